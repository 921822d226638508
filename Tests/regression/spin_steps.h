/*
 * A contender's steps through the spinning policy, as the pause points show them: 'j' joined
 * the OSQ, 's' polled the owner word, 'y' yielded, 'z' slept.  Each step is recorded once, in
 * the order first seen, until the sleep (spin_policy.c, spin_owner_cpu.c).
 */
#ifndef SPIN_STEPS_H
#define SPIN_STEPS_H

#include <string.h>

#include "test_hooks.h"

#define MAX_STEPS 4

/* Record point in steps (MAX_STEPS + 1 chars, zeroed at the start): the step, or 0 when the
 * point is not a step or was seen before. */
static inline char record_spin_step(char *steps, enum kmutex_test_point point)
{
	char step;

	switch (point) {
	case KMUTEX_TP_OSQ_JOIN: step = 'j'; break;
	case KMUTEX_TP_SPIN_ON_OWNER: step = 's'; break;
	case KMUTEX_TP_YIELD: step = 'y'; break;
	case KMUTEX_TP_WAITER_SLEEP: step = 'z'; break;
	default: return 0;
	}
	if (strchr(steps, step) || strchr(steps, 'z'))
		return 0;
	steps[strlen(steps)] = step;
	return step;
}

#endif /* SPIN_STEPS_H */
