/*
 * Target side: SIGTERM for a program that leaves it at its default. The
 * default ends the process on the spot, with what its threads counted or
 * sampled since the last send still in memory; multiprocessing's Pool ends
 * its workers that way. With term_install, SIGTERM first runs the
 * session's finish on a thread of pyscope's own (send everything, or let an
 * exit under way send its last records, waiting at most TERM_FLUSH_MS), and
 * the process then dies of the SIGTERM as it would have. A program that sets its own
 * handler replaces this one, as it would replace the default.
 */
#ifndef PYSCOPE_TERM_H
#define PYSCOPE_TERM_H

#define TERM_FLUSH_MS 300

/* Install when SIGTERM has its default action, to call finish() on a
 * SIGTERM before the process dies of it. 0, or PYSCOPE_ENOMEM. */
int term_install(void (*finish)(void));

/* In a fork child: the watching thread is the parent's; make the child's own. */
void term_fork_child(void);

#endif
