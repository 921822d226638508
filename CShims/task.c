#include "task.h"

#include <pthread.h>
#include <sys/mman.h>

#include "atomic.h"
#include "debug.h"
#include "wait_lock.h"

__thread struct kmutex_task *kmutex__current __attribute__((tls_model("initial-exec")));

/*
 * Lives outside the descriptor so that a signal handler can set it on a thread that has no
 * descriptor yet (creating one allocates, which a handler must not do).  initial-exec: the
 * dynamic TLS models may allocate on first access, in __tls_get_addr (glibc bug 16133).
 */
static __thread uint32_t interrupt_pending __attribute__((tls_model("initial-exec")));

/*
 * Set once the thread's descriptor has gone back to the pool at its exit.  A thread-exit
 * destructor that runs after ours and takes a lock gets a new descriptor (given back in a later
 * round of destructors, if glibc runs one): it must not publish the thread's rseq area, which
 * the thread would not retract before glibc frees it (sched_view.h).
 */
static __thread bool thread_exited __attribute__((tls_model("initial-exec")));

/*
 * Descriptors live in chunks of TASKS_PER_CHUNK, mmap'd as needed and never unmapped; a
 * descriptor's id is its index in chunk order.  pool_lock is a wait_lock, not a pthread mutex:
 * under libkmutex-pthread a pthread mutex here would recurse into this very function.
 */
#define TASKS_PER_CHUNK 256u
#define MAX_CHUNKS      4096u /* a million descriptors: far more threads than a process has */

static uint32_t pool_lock;                        /* a kmx_wait_lock word */
static struct kmutex_task *pool_free;             /* under pool_lock */
static uint32_t nr_tasks;                         /* ids handed out; under pool_lock */
static struct kmutex_task *chunks[MAX_CHUNKS];    /* written under pool_lock; read atomically */
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

/* Thread exit: the descriptor goes back to the pool, never to the allocator. */
static void task_release(void *arg)
{
	struct kmutex_task *task = arg;

	kmutex__current = NULL;
	thread_exited = true;
	task->read_held.nr = task->read_held.untracked = 0; /* read holds do not outlive a thread */
	kmx_last_cpu_retract(&task->last_cpu); /* glibc frees our rseq area after we return */
	kmx_hung_task_released(task);
	kmx_wait_lock(&pool_lock);
	task->pool_next = pool_free;
	pool_free = task;
	kmx_wait_unlock(&pool_lock);
}

/* fork() while another thread holds pool_lock must not leave the child's copy held. */
static void pool_lock_before_fork(void) { kmx_wait_lock(&pool_lock); }
static void pool_unlock_after_fork(void) { kmx_wait_unlock(&pool_lock); }

/*
 * In the child, the other threads are gone and glibc may reuse or unmap their stacks: their
 * rseq areas are retracted.  A parent thread may have been inside kmx_last_cpu_of() at the
 * fork, leaving a reader count nobody will take back: every count starts again at 0 (no reader
 * can be inside in the child but us, and we are here).  Our own cached policy is the parent's,
 * which SCHED_RESET_ON_FORK may have changed.  RELAXED: one thread left.
 */
static void pool_unlock_in_child(void)
{
	for (uint32_t id = 0; id < nr_tasks; id++) {
		struct kmutex_task *task = kmx_task_at(id);

		if (task != kmutex__current)
			kmx_store(&task->last_cpu.area, NULL, KMX_RELAXED);
		kmx_store(&task->last_cpu.readers, 0, KMX_RELAXED);
	}
	if (kmutex__current)
		kmutex__current->policy.checked_ns = 0;
	kmx_wait_unlock(&pool_lock);
}

static void exit_key_create(void)
{
	if (pthread_key_create(&exit_key, task_release) != 0)
		kmx_fatal("cannot create the thread-exit key for kmutex descriptors");
	if (pthread_atfork(pool_lock_before_fork, pool_unlock_after_fork, pool_unlock_in_child) != 0)
		kmx_fatal("cannot register the fork handlers for kmutex descriptors");
}

/* Under pool_lock: a descriptor never used before, with the next id. */
static struct kmutex_task *task_new(void)
{
	uint32_t id = nr_tasks, chunk = id / TASKS_PER_CHUNK;
	struct kmutex_task *task;

	if (id % TASKS_PER_CHUNK == 0) {
		void *mem;

		if (chunk >= MAX_CHUNKS)
			kmx_fatal("too many threads for kmutex descriptors");
		mem = mmap(NULL, TASKS_PER_CHUNK * sizeof(struct kmutex_task), PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mem == MAP_FAILED)
			kmx_fatal("out of memory for kmutex thread descriptors");
		/*
		 * RELAXED: a reader finds an id only in an osq_tail, stored there by the thread
		 * that owns the descriptor after this store happened before its creation
		 * returned; the tail's ACQ_REL exchange carries that order to the reader.
		 */
		kmx_store(&chunks[chunk], mem, KMX_RELAXED);
	}
	task = &chunks[chunk][id % TASKS_PER_CHUNK];
	/* A new descriptor (mmap'd zeros): nobody else can see it yet, plain stores are fine. */
	task->wake = KMX_WAKE_UP;
	task->osq.code = id + 1;
	/* RELEASE: the hung-task watchdog reads the count without pool_lock (kmx_task_count()),
	 * then the chunk and the descriptor: they are written above. */
	kmx_store(&nr_tasks, id + 1, KMX_RELEASE);
	return task;
}

struct kmutex_osq_node *kmx_osq_node_of(uint32_t code)
{
	uint32_t id = code - 1;

	if (!code)
		return NULL;
	/* RELAXED: see task_new(); the caller's acquire of the tail orders the chunk store. */
	return &kmx_load(&chunks[id / TASKS_PER_CHUNK], KMX_RELAXED)[id % TASKS_PER_CHUNK].osq;
}

struct kmutex_task *kmutex__task_create(void)
{
	struct kmutex_task *task;

	pthread_once(&exit_key_once, exit_key_create);
	kmx_wait_lock(&pool_lock);
	task = pool_free;
	if (task)
		pool_free = task->pool_next;
	else
		task = task_new();
	kmx_wait_unlock(&pool_lock);
	/*
	 * A recycled descriptor keeps its osq and wake fields: a stale neighbour or a late waker
	 * may still touch them (see task.h), and each use of them initializes them first.
	 */
	if (pthread_setspecific(exit_key, task) != 0)
		kmx_fatal("cannot register a kmutex descriptor for thread exit");
	kmutex__current = task;
	task->policy.checked_ns = 0; /* a recycled descriptor's answer was its last thread's */
	if (!thread_exited)
		kmx_last_cpu_publish(&task->last_cpu);
	kmx_hung_task_taken(task);
	return task;
}

uint32_t kmx_task_count(void)
{
	/* ACQUIRE pairs with task_new()'s RELEASE: the chunks and descriptors counted exist. */
	return kmx_load(&nr_tasks, KMX_ACQUIRE);
}

/* id < kmx_task_count(). */
struct kmutex_task *kmx_task_at(uint32_t id)
{
	/* RELAXED: ordered by kmx_task_count()'s ACQUIRE, which the caller did first. */
	return &kmx_load(&chunks[id / TASKS_PER_CHUNK], KMX_RELAXED)[id % TASKS_PER_CHUNK];
}

bool kmx_is_task(const void *p)
{
	uint32_t n = kmx_task_count();

	for (uint32_t c = 0; c * TASKS_PER_CHUNK < n; c++) {
		/* RELAXED: as kmx_task_at(). */
		const char *base = (const char *)kmx_load(&chunks[c], KMX_RELAXED);
		size_t off = (size_t)((const char *)p - base);

		if ((const char *)p >= base && off < TASKS_PER_CHUNK * sizeof(struct kmutex_task))
			return off % sizeof(struct kmutex_task) == 0 &&
			       c * TASKS_PER_CHUNK + off / sizeof(struct kmutex_task) < n;
	}
	return false;
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

int kmx_interruption_pending(void)
{
	/* RELAXED: set by a handler on this same thread; the caller's signal fence orders it. */
	return kmx_load(&interrupt_pending, KMX_RELAXED) != 0;
}
