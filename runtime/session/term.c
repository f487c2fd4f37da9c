/*
 * The SIGTERM handling of term.h. The handler only posts a semaphore (which
 * is async-signal-safe); a thread of pyscope's own, blocked on it, runs the
 * session's finish (a last send) and then puts the default action back and
 * sends the process SIGTERM again.
 */
#define _GNU_SOURCE
#include "term.h"
#include "error.h"
#include "threads.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* The watcher only waits and signals: a small stack, not the 8 MiB default
 * reserved for every thread. */
#define WATCHER_STACK (64 * 1024)

static sem_t term_sem;
static int installed;        /* the handler is ours and the watcher runs */
static void (*finish)(void); /* term_install's */

static void on_term(int sig)
{
    (void)sig;
    sem_post(&term_sem);
}

static void *watch(void *arg)
{
    (void)arg;
    while (sem_wait(&term_sem) < 0 && errno == EINTR)
        ;
    finish();
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGTERM, &dfl, NULL);
    kill(getpid(), SIGTERM); /* this thread blocks it: another one takes it, and the process ends */
    return NULL;
}

/* posts: SIGTERMs already posted that no watcher has taken. */
static int start_watcher(unsigned posts)
{
    pthread_t t;
    pthread_attr_t attr;
    if (sem_init(&term_sem, 0, posts) < 0)
        return PYSCOPE_ENOMEM;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, WATCHER_STACK);
    int rc = threads_start_own(&t, &attr, watch, NULL);
    pthread_attr_destroy(&attr);
    return rc;
}

int term_install(void (*on_sigterm)(void))
{
    struct sigaction old;
    finish = on_sigterm;
    if (installed || sigaction(SIGTERM, NULL, &old) < 0)
        return 0;
    if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL)
        return 0; /* the program's (or an ignored signal): leave it */
    int err = start_watcher(0);
    if (err < 0)
        return err;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    installed = 1;
    return 0;
}

/*
 * A SIGTERM can reach the child as soon as it exists (a parent that ends
 * what it has just forked): the handler then posts the semaphore the
 * parent's watcher waits on, and only the count in the child's copy of it
 * keeps that post. The new watcher starts with that count, read with
 * SIGTERM blocked so that no post falls between the read and the new
 * semaphore; one that arrives meanwhile is delivered when it is unblocked.
 */
void term_fork_child(void)
{
    if (!installed)
        return;
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &term, &old);
    int posts = 0;
    sem_getvalue(&term_sem, &posts);
    struct sigaction cur;
    if (!(sigaction(SIGTERM, NULL, &cur) == 0 && !(cur.sa_flags & SA_SIGINFO) &&
          cur.sa_handler == on_term && start_watcher(posts > 0 ? (unsigned)posts : 0) == 0))
        installed = 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}
