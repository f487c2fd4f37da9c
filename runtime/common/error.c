/* Messages for the PYSCOPE_E* codes of error.h. */
#include "error.h"

const char *pyscope_strerror(int err)
{
    switch (err) {
#define PYSCOPE_ERR_CASE(name, msg)                                                                \
    case PYSCOPE_E##name:                                                                          \
        return msg;
        PYSCOPE_ERRNO_MAP(PYSCOPE_ERR_CASE)
#undef PYSCOPE_ERR_CASE
    case 0:
        return "success";
    }
    return "unknown error";
}
