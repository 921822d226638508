#include "task.h"

#include <pthread.h>
#include <stdlib.h>

#include "atomic.h"
#include "debug.h"

__thread struct kmutex_task *kmutex__current __attribute__((tls_model("initial-exec")));

/*
 * Lives outside the descriptor so that a signal handler can set it on a thread that has no
 * descriptor yet (creating one allocates, which a handler must not do).  initial-exec: the
 * dynamic TLS models may allocate on first access, in __tls_get_addr (glibc bug 16133).
 */
static __thread uint32_t interrupt_pending __attribute__((tls_model("initial-exec")));

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kmutex_task *pool_free; /* under pool_lock */
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

/* Thread exit: the descriptor goes back to the pool, never to the allocator. */
static void task_release(void *arg)
{
	struct kmutex_task *task = arg;

	kmutex__current = NULL;
	pthread_mutex_lock(&pool_lock);
	task->pool_next = pool_free;
	pool_free = task;
	pthread_mutex_unlock(&pool_lock);
}

/* fork() while another thread holds pool_lock must not leave the child's copy held. */
static void pool_lock_before_fork(void) { pthread_mutex_lock(&pool_lock); }
static void pool_unlock_after_fork(void) { pthread_mutex_unlock(&pool_lock); }

static void exit_key_create(void)
{
	if (pthread_key_create(&exit_key, task_release) != 0)
		kmx_fatal("cannot create the thread-exit key for kmutex descriptors");
	if (pthread_atfork(pool_lock_before_fork, pool_unlock_after_fork, pool_unlock_after_fork) != 0)
		kmx_fatal("cannot register the fork handlers for kmutex descriptors");
}

struct kmutex_task *kmutex__task_create(void)
{
	struct kmutex_task *task;

	pthread_once(&exit_key_once, exit_key_create);
	pthread_mutex_lock(&pool_lock);
	task = pool_free;
	if (task)
		pool_free = task->pool_next;
	pthread_mutex_unlock(&pool_lock);
	if (!task) {
		task = aligned_alloc(_Alignof(struct kmutex_task), sizeof(*task));
		if (!task)
			kmx_fatal("out of memory for a kmutex thread descriptor");
		/* A new descriptor: nobody else can see it yet, plain stores are fine. */
		*task = (struct kmutex_task){ .wake = KMX_WAKE_UP };
	}
	/*
	 * A recycled descriptor keeps its osq and wake fields: a stale neighbour or a late waker
	 * may still touch them (see task.h), and each use of them initializes them first.
	 */
	if (pthread_setspecific(exit_key, task) != 0)
		kmx_fatal("cannot register a kmutex descriptor for thread exit");
	kmutex__current = task;
	return task;
}

/* M:signal (verify/kmutex.pml proctype sig) */
void kmutex_interrupt_self(void)
{
	struct kmutex_task *self = kmutex__current;

	/*
	 * Runs in a signal handler on the interrupted thread itself: relaxed atomics and the
	 * thread's own program order are all the ordering needed.  The wait loop stores
	 * KMX_WAKE_SLEEP before it checks for a pending interruption (kmx_signal_fence there),
	 * so either that check sees the interruption, or the futex sleep finds KMX_WAKE_UP and
	 * does not start.
	 */
	kmx_store(&interrupt_pending, 1, KMX_RELAXED);
	if (self)
		kmx_store(&self->wake, KMX_WAKE_UP, KMX_RELAXED);
}

int kmx_take_interruption(void)
{
	/* The exchange consumes it; a handler landing right after sets it again. */
	return kmx_xchg(&interrupt_pending, 0, KMX_RELAXED) != 0;
}
