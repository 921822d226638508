#include "debug.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

/* One write(2) per message, so that lines from several threads do not interleave. */
static void write_line(const char *line, int len)
{
	if (len > 0)
		(void)!write(STDERR_FILENO, line, (size_t)len);
}

void kmx_misuse(const char *check, const struct kmutex *lock)
{
	kmx_misuse_of(check, "mutex", lock);
}

void kmx_misuse_of(const char *check, const char *what, const void *object)
{
	char line[256];
	int len = snprintf(line, sizeof(line), "kmutex: %s (%s %p, thread %ld)\n",
			   check, what, object, (long)syscall(SYS_gettid));

	write_line(line, len < (int)sizeof(line) ? len : (int)sizeof(line) - 1);
	abort();
}

void kmx_fatal(const char *what)
{
	char line[256];
	int len = snprintf(line, sizeof(line), "kmutex: %s\n", what);

	write_line(line, len < (int)sizeof(line) ? len : (int)sizeof(line) - 1);
	abort();
}
