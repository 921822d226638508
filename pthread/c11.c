/*
 * C11 threads: glibc's mtx_* and cnd_* call its internal aliases, not the pthread_* symbols,
 * so they are defined here too, on the same objects (an mtx_t is a pthread_mutex_t and a
 * cnd_t a pthread_cond_t in glibc), with C11's return codes.
 */
#include <string.h>
#include <threads.h>

#include "dropin.h"

_Static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t), "mtx_t is a pthread_mutex_t in glibc");
_Static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t), "cnd_t is a pthread_cond_t in glibc");

static int thrd_code(int err)
{
	switch (err) {
	case 0:
		return thrd_success;
	case EBUSY:
		return thrd_busy;
	case ETIMEDOUT:
		return thrd_timedout;
	case ENOMEM:
		return thrd_nomem;
	default:
		return thrd_error;
	}
}

static pthread_mutex_t *mtx_mutex(mtx_t *mtx)
{
	return (pthread_mutex_t *)(void *)mtx;
}

static pthread_cond_t *cnd_cond(cnd_t *cnd)
{
	return (pthread_cond_t *)(void *)cnd;
}

int mtx_init(mtx_t *mtx, int type)
{
	pthread_mutex_t *mutex = mtx_mutex(mtx);
	int base = type & ~mtx_recursive;

	/* C11 types: mtx_plain or mtx_timed, optionally | mtx_recursive; anything else errs. */
	if (base != mtx_plain && base != mtx_timed)
		return thrd_error;
	memset(mutex, 0, sizeof(*mutex));
	as_kmutex(mutex)->options = (type & mtx_recursive) ? PTHREAD_MUTEX_RECURSIVE : PTHREAD_MUTEX_NORMAL;
	return thrd_success;
}

int mtx_lock(mtx_t *mtx)
{
	return thrd_code(pt_mutex_lock(mtx_mutex(mtx), CALLER));
}

int mtx_trylock(mtx_t *mtx)
{
	return thrd_code(pt_mutex_trylock(mtx_mutex(mtx), CALLER));
}

int mtx_timedlock(mtx_t *restrict mtx, const struct timespec *restrict time_point)
{
	return thrd_code(pt_mutex_timedlock(mtx_mutex(mtx), CLOCK_REALTIME, time_point, false, CALLER));
}

int mtx_unlock(mtx_t *mtx)
{
	return thrd_code(pt_mutex_unlock(mtx_mutex(mtx)));
}

void mtx_destroy(mtx_t *mtx)
{
	(void)pt_mutex_destroy(mtx_mutex(mtx));
}

int cnd_init(cnd_t *cnd)
{
	return thrd_code(pt_cond_init(cnd_cond(cnd), NULL));
}

int cnd_signal(cnd_t *cnd)
{
	return thrd_code(pt_cond_signal(cnd_cond(cnd), false));
}

int cnd_broadcast(cnd_t *cnd)
{
	return thrd_code(pt_cond_signal(cnd_cond(cnd), true));
}

int cnd_wait(cnd_t *cnd, mtx_t *mtx)
{
	return thrd_code(pt_cond_wait(cnd_cond(cnd), mtx_mutex(mtx), 0, CLOCK_REALTIME, NULL, CALLER));
}

int cnd_timedwait(cnd_t *restrict cnd, mtx_t *restrict mtx, const struct timespec *restrict time_point)
{
	/* C11's time point is TIME_UTC: CLOCK_REALTIME, whatever the condvar's clock. */
	return thrd_code(pt_cond_wait(cnd_cond(cnd), mtx_mutex(mtx), 2, CLOCK_REALTIME, time_point, CALLER));
}

void cnd_destroy(cnd_t *cnd)
{
	(void)pt_cond_destroy(cnd_cond(cnd));
}
