/*
 * Is libkmutex-pthread in this process?  The preload benchmarks print it on their result
 * line, so programs.sh can tell a run that was really on kmutex from one where LD_PRELOAD
 * silently did not apply (a wrong path only gets a loader warning, and the run goes on).
 */
#ifndef PRELOADED_H
#define PRELOADED_H

#include <stdio.h>
#include <string.h>

static int kmutex_preloaded(void)
{
	char line[4096];
	int found = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, "libkmutex-pthread") != NULL;
	if (f)
		fclose(f);
	return found;
}

#endif
