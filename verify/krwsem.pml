/*
 * krwsem.pml: a Promela model of krwsem, step for step as CShims/krwsem.c does it.
 * verify/README.md (section krwsem) explains the model, the properties and the runs.
 *
 * Each model step is one operation of the C code on shared state: a load, fetch_add, cmpxchg,
 * fetch_and/or of the count, a load or store of the owner word's READER_OWNED hint, a store of
 * `granted`, a store, exchange or futex operation on a wake word.  wait_lock is an explicit
 * lock (wl), so the lock-free count operations of other threads (reader fast paths, unlocks,
 * writer spinning) interleave with wait_lock sections as they do in C.  Work done under
 * wait_lock on the list (which krwsem.c reads only under wait_lock) is folded into the step
 * that does it.  Every inline names the C function it stands for, as R:<function>.
 *
 * The count is cnt = readers << 4 | WOKEN 8 | HANDOFF 4 | WAITERS 2 | WRITER_LOCKED 1 (C:
 * readers from bit 8; the overflow guard is not modelled).  Waiters: list[] (FIFO, list[0]
 * the head), iswriter[t] (the waiter's type), granted[t], hset[t] (waiter->handoff_set).
 * WOKEN is krwsem's woken writer head (c556efa): set by release_and_wake() when it woke a
 * writer head, cleared by that head's next try; while it is set, unlocks skip the wakeup.
 *
 * Abstractions (README): the OSQ is gone (a writer's optimistic spin is up to SPIN
 * write_trylock_unqueued() attempts, abandoned at any point, as the budget may run out);
 * spin_for_handoff() is one look at the count, made at any time after the head drops
 * wait_lock (which covers polling), or the budget ran out and it sleeps.  Time is not
 * modelled, only its effects: waited_long_enough(t) becomes true at any step after t queued
 * and stays true (ghost owed[t]; `since` is stamped at enqueue and not restamped, as in C);
 * a timed wait's deadline passes at any check or during its sleep, and stays passed.  Signals
 * are kmutex.pml's: delivery ends a futex sleep with EINTR, a kind-1 handler also does
 * kmutex_interrupt_self() (pending, wake word UP).  The per-thread read-lock record
 * (read_held()) is exact here (rholds[t]); its untracked overflow is not modelled.
 *
 * Thread roles (ROLE1..ROLE4):
 *   READ       down_read (mode M), up_read, R rounds
 *   WRITE      down_write (mode M), up_write, R rounds
 *   RECUR      down_read, down_read again (a recursive read), up_read twice
 *   DOWNGRADE  down_write, downgrade_write, up_read
 *   LONGREAD   down_read, holds it until every other thread has finished, up_read: a reader
 *              that outlives the others, so that a waiter stranded behind it (asleep while
 *              it could share the lock) never finishes: an invalid end state
 * Modes: 0 plain, 1 interruptible, 2 timed.  S1..S4: the signal each thread gets (0 none,
 * 1 a handler calling kmutex_interrupt_self(), 2 any other handler).
 *
 * Variants (each must fail; C: the same KRWSEM_BUG_* build flags, Tests/regression/rwsem_rules.c):
 *   BUG_HANDOFF_LEFT  cancel_wait() does not clear the HANDOFF its waiter set (d257cc8cb8d5,
 *                     6eebd5fb2083): the bit outlives the waiter (HANDOFF_OWNED).
 *   BUG_NO_WAKE_NEXT  a cancelled head does not wake the next waiter (1ee326196c66,
 *                     54c1ee4d614d): readers stranded behind a writer that left (invalid end
 *                     state with a LONGREAD holder).
 *   BUG_BIAS_LATE     mark_wake() grants the readers before it counts their biases
 *                     (a9e9bcb45b15): the count says fewer readers than hold it (COUNT_OK).
 *   BUG_NO_RECURSION  the kernel's down_read: a recursive read queues behind a waiting writer
 *                     (deadlock, and the "never queues while holding a read" assert).
 *   BUG_NO_COND_WAKE  the read slow path does not run cond_wake() after taking its bias back
 *                     out (54c1ee4d614d's rwsem_cond_wake_waiter()): the unlock that should
 *                     have woken the head saw our transient bias and did not.
 *   BUG_WOKEN_KEPT    a writer head that finds the lock held leaves WOKEN set (krwsem's own
 *                     rule, "the woken head", c556efa: the head clears it in that cmpxchg):
 *                     the holder's unlock skips the wakeup, the head sleeps on a free lock.
 *   BUG_HANDOFF_IGNORED  thieves (a reader's steal, a writer's unqueued trylock and spin)
 *                     ignore HANDOFF (C: KRWSEM_BUG_HANDOFF_IGNORED): bypass after HANDOFF.
 * Other switches: HANDOFF_TIME0 (KRWSEM_HANDOFF_AFTER_US=0: every head has waited long
 * enough), LIVENESS_ONLY (drop the invariants: see the bug as a thread that never finishes),
 * BYPASS_MAX (default 0), NT (3 or 4), SPIN (default 1).
 */

#ifndef NT
#define NT 3
#endif
#ifndef SPIN
#define SPIN 1
#endif
#ifndef BYPASS_MAX
#define BYPASS_MAX 0
#endif

#define READ      0
#define WRITE     1
#define RECUR     2
#define DOWNGRADE 3
#define LONGREAD  4

#define PLAIN 0
#define INTR  1
#define TIMED 2

#ifndef ROLE1
#define ROLE1 WRITE
#endif
#ifndef ROLE2
#define ROLE2 READ
#endif
#ifndef ROLE3
#define ROLE3 READ
#endif
#ifndef ROLE4
#define ROLE4 WRITE
#endif
#ifndef M1
#define M1 PLAIN
#endif
#ifndef M2
#define M2 PLAIN
#endif
#ifndef M3
#define M3 PLAIN
#endif
#ifndef M4
#define M4 PLAIN
#endif
#ifndef R1
#define R1 2
#endif
#ifndef R2
#define R2 1
#endif
#ifndef R3
#define R3 1
#endif
#ifndef R4
#define R4 1
#endif
#ifndef S1
#define S1 0
#endif
#ifndef S2
#define S2 0
#endif
#ifndef S3
#define S3 0
#endif
#ifndef S4
#define S4 0
#endif

/* The count (krwsem.c RWSEM_*), readers from bit 4 here. */
#define WLOCKED  1
#define WAITERS  2
#define HANDOFF  4
#define WOKEN    8
#define BIAS     16
#define NR(c)     ((c) >> 4)
#define LOCKED(c) (((c) & WLOCKED) || NR(c) != 0)        /* c & RWSEM_LOCK_MASK */
/* must_wake(): with waiters, an unlock wakes them, unless the head is a woken writer */
#define MUST_WAKE(c) (((c) & (WAITERS | WOKEN)) == WAITERS)
/* RWSEM_NO_THIEVES: what stops a reader's steal and a writer's unqueued trylock */
#ifndef BUG_HANDOFF_IGNORED
#define NO_THIEVES HANDOFF
#else
#define NO_THIEVES 0
#endif

/* mark_wake()'s enum wake_type */
#define WAKE_ANY        0
#define WAKE_READERS    1
#define WAKE_READ_OWNED 2

#define SLEEP 0 /* KMX_WAKE_SLEEP */
#define UP    1 /* KMX_WAKE_UP */

#define EINTR     1
#define ETIMEDOUT 2

short cnt;           /* krwsem.count */
bit rown;            /* krwsem.owner & RWSEM_READER_OWNED (the last holder was a reader) */
byte wl;             /* krwsem.wait_lock: holder, 0 = free */
byte list[NT];       /* the FIFO wait list, list[0] the head; 0 = no entry */
byte nw;             /* entries on the list */
bit iswriter[NT + 1];/* waiter->type == WAITER_WRITE */
bit granted[NT + 1]; /* waiter->granted (reader) */
bit hset[NT + 1];    /* waiter->handoff_set */
bit wake[NT + 1];    /* kmutex_task.wake */
byte infutex[NT + 1];/* FUTEX_WAIT: 0 not in it, 1 asleep, 2 ended by a signal (EINTR) */
bit pending[NT + 1]; /* task.c interrupt_pending */

/* Ghost state: what the properties talk about. */
bit owed[NT + 1];    /* waited_long_enough(t): t has waited H since it queued */
bit onlist[NT + 1];
byte rholds[NT + 1]; /* read locks t holds (read_held(); a grant counts from the grant) */
byte nrh;            /* read holds, all threads (each has its bias in the count) */
byte nwh;            /* write holders */
byte hreq;           /* the waiter that set the HANDOFF now in the count, 0 = none */
byte bypass;         /* acquisitions by others while hreq's HANDOFF stands */
byte ndone;          /* threads that finished */
hidden byte i_, j_;  /* loop indexes inside atomic list updates */

/* ---- properties checked in every state (monitor) --------------------------------------- */

#ifndef LIVENESS_ONLY
/* A writer excludes everyone. */
#define EXCL_OK   (nwh <= 1 && (nwh == 0 || nrh == 0))
/* The count tells the truth: the writer bit is set exactly while a writer holds, and every
 * read hold has its bias counted (transient biases of failing readers may add to it). */
#define COUNT_OK  (((cnt & WLOCKED) != 0) == (nwh != 0) && NR(cnt) >= nrh)
/* With wait_lock free: WAITERS set exactly while the list is not empty, and HANDOFF only
 * while the head that set it is still the head. */
#define FLAGS_OK  (wl != 0 || ((nw != 0) == ((cnt & WAITERS) != 0)))
#define HANDOFF_OWNED (wl != 0 || !(cnt & HANDOFF) || (nw > 0 && list[0] == hreq && hset[hreq]))
/* WOKEN only while the head is a writer whose wakeup is marked (krwsem.c check_wait_list()) */
#define WOKEN_OK  (wl != 0 || !(cnt & WOKEN) || (nw > 0 && iswriter[list[0]] && wake[list[0]] == UP))
/* No waiter asleep on a free lock: a free lock with waiters has a woken writer at the head
 * (check_wait_list() in debug builds; here in every state with wait_lock free) */
#define NO_SLEEPER_ON_FREE (wl != 0 || nw == 0 || LOCKED(cnt) || (iswriter[list[0]] && wake[list[0]] == UP))
#else
#define EXCL_OK   true
#define COUNT_OK  true
#define FLAGS_OK  true
#define HANDOFF_OWNED true
#define WOKEN_OK  true
#define NO_SLEEPER_ON_FREE true
#endif

active proctype monitor()
{
end:	atomic { !(EXCL_OK && COUNT_OK && FLAGS_OK && HANDOFF_OWNED && WOKEN_OK && NO_SLEEPER_ON_FREE) ->
		assert(EXCL_OK); assert(COUNT_OK); assert(FLAGS_OK); assert(HANDOFF_OWNED);
		assert(WOKEN_OK); assert(NO_SLEEPER_ON_FREE) }
}

/* After every change of the count: the standing HANDOFF request goes when the bit goes. */
#define HSYNC  if :: !(cnt & HANDOFF) -> hreq = 0 :: else fi

/* Bounded bypass: an acquisition by a thread other than the head whose HANDOFF stands. */
inline bypass_check(stood)
{
	if
	:: stood -> bypass++; assert(bypass <= BYPASS_MAX)
	:: else
	fi
}

/* waited_long_enough(t) R:waited_long_enough: r := 1 once t has waited H (any step after it
 * queued, then for good). */
#ifdef HANDOFF_TIME0
#define waited(t, r) r = 1
#else
#define waited(t, r) if :: owed[t] -> r = 1 :: !owed[t] -> owed[t] = 1; r = 1 :: !owed[t] -> r = 0 fi
#endif

/* ---- wait_lock, the wake queue, sleeping --------------------------------------------------- */

inline lock_wait_list()   { atomic { wl == 0 -> wl = me } }
inline unlock_wait_list() { wl = 0 }

/* wake_q_add() R:wake_q_add, under wait_lock: a word that says UP is left alone (only its
 * thread stores SLEEP, under wait_lock, so the load is exact); else xchg(wake, UP) == SLEEP ->
 * queue a futex wake.  (The load and the xchg are one step here: a signal's UP between them
 * changes nothing, the xchg then returns UP.) */
inline wake_q_add(t)
{
	atomic { if :: wake[t] == SLEEP -> wq[t] = 1; wake[t] = UP :: else fi }
}

/* wake_up_q() R:wake_up_q, after dropping wait_lock: one FUTEX_WAKE per queued task; it ends
 * whatever sleep is in progress then (a stale one is a spurious wakeup, as in C). */
inline wake_up_q()
{
	w_ = 1;
	do
	:: w_ <= NT ->
		if
		:: wq[w_] -> atomic { wq[w_] = 0; if :: infutex[w_] == 1 -> infutex[w_] = 0 :: else fi }
		:: else
		fi;
		w_++
	:: else -> w_ = 0; break
	od
}

/* sleep_on_wake_word() R:sleep_on_wake_word: FUTEX_WAIT while the word is SLEEP; signalled :=
 * the sleep ended in EINTR; a timed sleep may end at its deadline. */
inline sleep_on_wake_word()
{
	atomic {
		if
		:: wake[me] == SLEEP -> infutex[me] = 1
		:: else                               /* EAGAIN: a waker came first */
		fi };
	if
	:: atomic { infutex[me] != 1 -> signalled = (infutex[me] == 2); infutex[me] = 0 }
	:: atomic { mode == TIMED && infutex[me] == 1 -> expired = 1; infutex[me] = 0; signalled = 0 }
	fi
}

/* An asynchronous signal to thread t (kmutex.pml's). */
proctype sig(byte t; byte kind)
{
	atomic {
		printf("signal to T%d, kind %d\n", t, kind);
		if
		:: infutex[t] == 1 -> infutex[t] = 2
		:: else
		fi;
		if
		:: kind == 1 -> pending[t] = 1; wake[t] = UP
		:: else
		fi }
}

/* wait_gives_up() R:wait_gives_up: ret := EINTR / ETIMEDOUT / 0; consumes nothing. */
inline wait_gives_up()
{
	if
	:: mode == INTR && (signalled || pending[me]) -> ret = EINTR
	:: mode == INTR && !(signalled || pending[me]) -> ret = 0
	:: mode == TIMED && expired -> ret = ETIMEDOUT
	:: mode == TIMED && !expired -> expired = 1; ret = ETIMEDOUT   /* the deadline passes now */
	:: mode == TIMED && !expired -> ret = 0
	:: mode == PLAIN -> ret = 0
	fi
}

/* gave_up() R:gave_up: -EINTR consumes the pending interruption. */
inline gave_up()
{
	if
	:: ret == EINTR -> pending[me] = 0
	:: else
	fi
}

/* ---- the list (wait_list.h), under wait_lock ------------------------------------------------ */

/* enqueue_waiter() R:enqueue_waiter: armed to sleep, stamped, at the tail. */
inline enqueue_waiter(writer)
{
#ifndef LIVENESS_ONLY
	assert(writer || rholds[me] == 0);           /* a recursive read never queues */
#endif
	wake[me] = SLEEP;
	atomic { list[nw] = me; nw++; onlist[me] = 1; iswriter[me] = writer; granted[me] = 0;
		 hset[me] = 0; owed[me] = 0 }
}

/* kmx_wait_list_del() of t: r := the list is now empty */
inline list_del(t)
{
	i_ = 0;
	do
	:: list[i_] == t -> break
	:: else -> i_++
	od;
	do
	:: i_ + 1 < nw -> list[i_] = list[i_ + 1]; i_++
	:: else -> break
	od;
	nw--; list[nw] = 0; onlist[t] = 0; i_ = 0;
	r = (nw == 0)
}

/* ---- mark_wake(), cond_wake(), cancel_wait() --------------------------------------------------- */

/*
 * mark_wake() R:mark_wake, under wait_lock, the list not empty.  A writer head is only woken
 * (WAKE_ANY).  A reader head: probe with one bias unless WAKE_READ_OWNED; if a writer holds the
 * lock, back out (a head that has waited H sets HANDOFF in the same add); else take every
 * queued reader off the list (writers skipped), count their biases in one add (clearing
 * WAITERS if the list emptied, and HANDOFF), then grant each.
 */
inline mark_wake(type)
{
	head = list[0];
	if
	:: iswriter[head] ->
		if
		:: type == WAKE_ANY -> wake_q_add(head)
		:: else
		fi
	:: else ->
		probe = 0;
		if
		:: type != WAKE_READ_OWNED ->
			atomic { c = cnt; cnt = cnt + BIAS; probe = BIAS } /* fetch_add ACQUIRE: the probe */
		:: else
		fi;
		if
		:: probe && (c & WLOCKED) ->             /* a writer holds it: back out */
			r = 0;
			if
			:: !(c & HANDOFF) -> waited(head, r)
			:: else
			fi;
			atomic {
				if
				:: r -> cnt = cnt - BIAS + HANDOFF; hset[head] = 1; hreq = head
				:: else -> cnt = cnt - BIAS
				fi;
				HSYNC };
			r = 0
		:: else ->
			atomic {                         /* first pass: the readers off the list */
				nb = 0; i_ = 0;
				do
				:: i_ < nw && !iswriter[list[i_]] ->
					batch[list[i_]] = 1; nb++;
					j_ = i_;
					do
					:: j_ + 1 < nw -> list[j_] = list[j_ + 1]; j_++
					:: else -> break
					od;
					nw--; list[nw] = 0
				:: i_ < nw && iswriter[list[i_]] -> i_++
				:: else -> break
				od;
				i_ = 0; j_ = 0 };
			c = cnt;                                  /* load RELAXED: the flags */
			adj = nb * BIAS - probe;
			if
			:: nw == 0 -> adj = adj - WAITERS
			:: else
			fi;
			if
			:: c & HANDOFF -> adj = adj - HANDOFF
			:: else
			fi;
#ifndef BUG_BIAS_LATE
			if
			:: adj != 0 -> atomic { cnt = cnt + adj; HSYNC }
			:: else
			fi;
#endif
			k = 1;                                    /* second pass: grant */
			do
			:: k <= NT ->
				if
				:: batch[k] ->
					batch[k] = 0;
					wake_q_add(k);
					atomic { granted[k] = 1; onlist[k] = 0; nrh++; rholds[k]++ } /* RELEASE */
				:: else
				fi;
				k++
			:: else -> k = 0; break
			od;
#ifdef BUG_BIAS_LATE
			if
			:: adj != 0 -> atomic { cnt = cnt + adj; HSYNC }
			:: else
			fi;
#endif
			nb = 0; adj = 0
		fi;
		probe = 0
	fi;
	head = 0
}

/* cond_wake() R:cond_wake: from a slow path that just changed the count (54c1ee4d614d). */
inline cond_wake()
{
	if
	:: !(c & WLOCKED) && NR(c) != 0 -> mark_wake(WAKE_READERS)
	:: !(c & WLOCKED) && NR(c) == 0 -> mark_wake(WAKE_ANY)
	:: else
	fi
}

/* cancel_wait() R:cancel_wait, under wait_lock: a waiter gives up. */
inline cancel_wait()
{
	washead = (list[0] == me);
#ifndef BUG_HANDOFF_LEFT
	if
	:: hset[me] -> atomic { cnt = cnt & ~HANDOFF; HSYNC }     /* fetch_and RELAXED */
	:: else
	fi;
#endif
	atomic { list_del(me) };
	if
	:: r -> atomic { cnt = cnt & ~(WAITERS | HANDOFF | WOKEN); HSYNC }
	:: else ->
#ifndef BUG_NO_WAKE_NEXT
		if
		:: washead -> mark_wake(WAKE_ANY)
		:: else
		fi
#else
		skip
#endif
	fi;
	r = 0; washead = 0
}

/* ---- unlock paths ---------------------------------------------------------------------------- */

/* release_and_wake() R:release_and_wake: the last holder with waiters, under wait_lock. */
inline release_and_wake(part)
{
	lock_wait_list();
	atomic {
		cnt = cnt - part; c = cnt;            /* fetch_add RELEASE */
		if
		:: part == WLOCKED -> nwh--
		:: else -> nrh--; rholds[me]--
		fi;
		HSYNC };
	if
	:: !LOCKED(c) && (c & WAITERS) ->
		wh = iswriter[list[0]];
		mark_wake(WAKE_ANY);
		if                                    /* a writer head is the woken head now */
		:: wh -> atomic { cnt = cnt | WOKEN }  /* fetch_or RELAXED */
		:: else
		fi;
		wh = 0
	:: else
	fi;
	unlock_wait_list();
	wake_up_q()
}

/* krwsem_up_read() R:krwsem_up_read, release_read(sem, true). */
inline up_read()
{
	c = cnt;                                      /* load RELAXED: a guess */
	do
	:: assert(NR(c) != 0 && !(c & WLOCKED));      /* up_read_misuse() */
		if
		:: MUST_WAKE(c) && NR(c) == 1 -> release_and_wake(BIAS); break
		:: else
		fi;
		atomic {                              /* cmpxchg RELEASE */
			if
			:: cnt == c -> cnt = c - BIAS; nrh--; rholds[me]--; break
			:: else -> c = cnt
			fi }
	od;
	c = 0
}

/* krwsem_up_write() R:krwsem_up_write */
inline up_write()
{
	atomic { c = cnt; assert((c & WLOCKED) && nwh == 1 && wholds) };  /* holds_write() */
	rown = 0; wholds = 0;                         /* owner = 0, RELAXED */
	do
	:: MUST_WAKE(c) -> release_and_wake(WLOCKED); break
	:: else ->
		atomic {                              /* cmpxchg RELEASE */
			if
			:: cnt == c -> cnt = c - WLOCKED; nwh--; break
			:: else -> c = cnt
			fi }
	od;
	c = 0
}

/* krwsem_downgrade_write() R:krwsem_downgrade_write */
inline downgrade_write()
{
	atomic { assert((cnt & WLOCKED) && wholds) };
	rown = 1;                                     /* reader_acquired(): the owner store */
	atomic { cnt = cnt + BIAS - WLOCKED; c = cnt; wholds = 0; nwh--; nrh++; rholds[me]++ };
	if
	:: c & WAITERS ->
		lock_wait_list();
		if
		:: nw > 0 -> mark_wake(WAKE_READ_OWNED)
		:: else
		fi;
		unlock_wait_list();
		wake_up_q()
	:: else
	fi;
	c = 0
}

/* ---- the read side --------------------------------------------------------------------------- */

/* read_wait() R:read_wait: ret := 0 granted (or granted before we could leave), else gave up. */
inline read_wait()
{
	do
	:: granted[me] -> ret = 0; break             /* load ACQUIRE */
	:: !granted[me] ->
		wait_gives_up();
		if
		:: ret -> break
		:: else
		fi;
		sleep_on_wake_word();
		if                                    /* woken, not granted: re-arm under wait_lock */
		:: wake[me] == UP ->
			if
			:: !granted[me] ->
				lock_wait_list();
				if
				:: !granted[me] -> wake[me] = SLEEP
				:: else
				fi;
				unlock_wait_list()
			:: else
			fi
		:: else
		fi
	od;
	if
	:: ret ->
		lock_wait_list();
		if
		:: granted[me] -> unlock_wait_list(); ret = 0  /* the grant came first: keep it */
		:: else ->
			cancel_wait();
			unlock_wait_list();
			wake_up_q();
			gave_up()
		fi
	:: else
	fi
}

/* Ghost, in the step where a reader decides its bias is a lock (reader_acquired() follows).
 * hs: a HANDOFF of another waiter stood when that bias went into the count. */
inline read_held_now(hs)
{
	nrh++; rholds[me]++; bypass_check(hs)
}

#ifndef BUG_NO_RECURSION
#define recursive_read (rholds[me] > 0)
#else
#define recursive_read false
#endif

/*
 * down_read_common() R:down_read_common and read_slow() R:read_slow.  ret := 0 / EINTR /
 * ETIMEDOUT.
 */
inline down_read()
{
	expired = 0; signalled = 0;
	atomic {                                      /* fetch_add ACQUIRE: the fast path */
		cnt = cnt + BIAS; c = cnt;
		stood = (hreq != 0 && hreq != me);
		if
		:: !(c & (WLOCKED | WAITERS | HANDOFF)) ->
			nrh++; rholds[me]++; bypass_check(stood); r = 1
		:: else -> r = 0
		fi };
	if
	:: r -> rown = 1; r = 0; ret = 0                /* reader_acquired() */
	:: else ->                                    /* read_slow() */
		if
		:: recursive_read -> r = 2            /* our own hold keeps writers out */
		:: !recursive_read && !(c & (WLOCKED | NO_THIEVES)) ->
			atomic {                      /* reader_owned(): load RELAXED */
				r = !(NR(c) > 1 && rown);
				if                    /* a steal: our bias (counted since the add) stays */
				:: r -> read_held_now(stood)
				:: else
				fi }
		:: !recursive_read && (c & (WLOCKED | NO_THIEVES)) -> r = 0
		fi;
		if
		:: r == 2 -> r = 0; rown = 1; atomic { nrh++; rholds[me]++ }; ret = 0
		:: r == 1 ->                          /* steal */
			r = 0;
			if
			:: NR(c) == 1 && (c & WAITERS) ->
				lock_wait_list();
				if
				:: nw > 0 -> mark_wake(WAKE_READ_OWNED)
				:: else
				fi;
				unlock_wait_list();
				wake_up_q()
			:: else
			fi;
			rown = 1; ret = 0                 /* reader_acquired() */
		:: r == 0 ->
			lock_wait_list();
			adj = -BIAS;
			atomic {
				if
				:: nw == 0 && !(cnt & WLOCKED) ->    /* load ACQUIRE: nobody waits, no writer */
					r = 1; read_held_now(hreq != 0 && hreq != me)
				:: nw == 0 && (cnt & WLOCKED) -> adj = adj + WAITERS
				:: nw != 0
				fi };
			if
			:: r ->
				r = 0; unlock_wait_list(); adj = 0;
				rown = 1; ret = 0             /* reader_acquired() */
			:: else ->
				enqueue_waiter(0);
				atomic { cnt = cnt + adj; c = cnt; HSYNC };  /* our bias out, WAITERS if first */
				adj = 0;
#ifndef BUG_NO_COND_WAKE
				cond_wake();
#endif
				unlock_wait_list();
				wake_up_q();
				read_wait();
				if
				:: ret == 0 -> rown = 1       /* reader_acquired(): counted at the grant */
				:: else -> assert(!granted[me])
				fi
			fi
		fi
	fi;
	c = 0; stood = 0; signalled = 0
}

/* ---- the write side -------------------------------------------------------------------------- */

/* A writer holds the lock: writer_acquired(), in the step that set WRITER_LOCKED. */
inline write_acquired()
{
	nwh++; wholds = 1; bypass_check(hreq != 0 && hreq != me)
}

/* write_trylock_unqueued() R:write_trylock_unqueued: r := 1 acquired. */
inline write_trylock_unqueued()
{
	c = cnt;                                      /* load RELAXED: a guess */
	r = 0;
	do
	:: !LOCKED(c) && !(c & NO_THIEVES) ->
		atomic {                              /* cmpxchg ACQUIRE */
			if
			:: cnt == c -> cnt = c | WLOCKED; write_acquired(); r = 1; break
			:: else -> c = cnt
			fi }
	:: else -> break
	od;
	if
	:: r -> rown = 0                              /* owner = self */
	:: else
	fi
}

/* optimistic_spin() R:optimistic_spin (the OSQ abstracted away): up to SPIN tries, abandoned at
 * any point, or when HANDOFF is seen. */
inline optimistic_spin()
{
	k = 0;
	do
	:: k < SPIN ->
		k++;
		write_trylock_unqueued();
		if
		:: r -> break
		:: else
		fi;
		if
		:: cnt & HANDOFF -> break             /* load RELAXED */
		:: true -> skip
		:: true -> break                      /* the budget ran out */
		fi
	:: else -> break
	od;
	k = 0
}

/*
 * try_write_lock() R:try_write_lock, under wait_lock.  r := 1 acquired.  The head clears WOKEN
 * in its cmpxchg (taking the lock, or finding it held); a head that has waited H and finds the
 * lock held sets HANDOFF in the same cmpxchg; nothing to change: fail without a cmpxchg.
 */
inline try_write_lock()
{
	washead = (list[0] == me);
	c = cnt;                                      /* load RELAXED */
	r = 0;
	do
	:: (c & HANDOFF) && !washead -> break
	:: !((c & HANDOFF) && !washead) ->
		take = !LOCKED(c);
		nc = c;
#ifndef BUG_WOKEN_KEPT
		if
		:: washead -> nc = nc & ~WOKEN
		:: else
		fi;
#else
		if                                    /* WOKEN cleared only when the head takes it */
		:: washead && take -> nc = nc & ~WOKEN
		:: else
		fi;
#endif
		if
		:: take ->
			nc = (nc | WLOCKED) & ~HANDOFF;
			if
			:: nw == 1 -> nc = nc & ~WAITERS
			:: else
			fi
		:: !take && washead && !(c & HANDOFF) ->
			waited(me, r);
			if
			:: r -> nc = nc | HANDOFF
			:: else
			fi;
			r = 0
		:: else
		fi;
		if
		:: nc == c -> break
		:: else
		fi;
		atomic {                              /* cmpxchg ACQUIRE */
			if
			:: cnt == c ->
				cnt = nc;
				if
				:: take -> write_acquired(); HSYNC; list_del(me); r = 1
				:: !take && (nc & HANDOFF) ->         /* ours: only the head sets it */
					hset[me] = 1;
					if
					:: !(c & HANDOFF) -> hreq = me
					:: else
					fi
				:: else
				fi;
				break
			:: else -> c = cnt
			fi }
	od;
	washead = 0; take = 0; nc = 0;
	if
	:: r -> rown = 0
	:: else
	fi
}

/* write_wait() R:write_wait: entered with wait_lock held, leaves it dropped. */
inline write_wait()
{
	do
	:: wake[me] = SLEEP;                          /* armed under wait_lock, before the try */
		try_write_lock();
		if
		:: r -> r = 0; ret = 0; break
		:: else
		fi;
		wait_gives_up();
		if
		:: ret -> cancel_wait(); break
		:: else
		fi;
		unlock_wait_list();
		if                                    /* spin_for_handoff() R:spin_for_handoff */
		:: hset[me] && !LOCKED(cnt) -> skip   /* it saw the lock free: try again */
		:: true -> sleep_on_wake_word()
		fi;
		lock_wait_list()
	od;
	unlock_wait_list();
	wake_up_q();
	gave_up()
}

/* down_write_common() R:down_write_common and write_slow() R:write_slow. */
inline down_write()
{
	expired = 0; signalled = 0; ret = 0;
	atomic {                                      /* cmpxchg 0 -> WRITER_LOCKED, ACQUIRE */
		if
		:: cnt == 0 -> cnt = WLOCKED; write_acquired(); r = 1
		:: else -> r = 0
		fi };
	if
	:: r -> rown = 0
	:: else -> write_trylock_unqueued()
	fi;
	if
	:: !r -> optimistic_spin()
	:: else
	fi;
	if
	:: r -> r = 0
	:: else ->
		lock_wait_list();
		enqueue_waiter(1);
		if
		:: list[0] == me -> atomic { cnt = cnt | WAITERS }   /* fetch_or RELAXED */
		:: else ->
			c = cnt;                      /* load RELAXED */
			cond_wake();
			if                            /* q.n: wake them before we wait */
			:: wq[1] || wq[2] || wq[3] || wq[NT] ->
				unlock_wait_list(); wake_up_q(); lock_wait_list()
			:: else
			fi
		fi;
		write_wait()
	fi;
	c = 0; signalled = 0
}

/* ---- threads ----------------------------------------------------------------------------------- */

#define OP_NONE 0
#define OP_DR   1   /* down_read */
#define OP_UR   2   /* up_read */
#define OP_DW   3   /* down_write */
#define OP_UW   4   /* up_write */
#define OP_DG   5   /* downgrade_write */

/* One thread: each operation's inline is expanded once, the role picks the sequence. */
proctype thread(byte me; byte role; byte mode; byte rounds)
{
	short c, adj, nc;
	byte r, k, ret, head, nb, probe, op, w_;
	bit expired, signalled, washead, stood, wholds, take, wh;
	bit wq[NT + 1];
	bit batch[NT + 1];

	do
	:: op == OP_NONE && rounds == 0 -> break
	:: op == OP_NONE && rounds > 0 ->
		rounds--;
		op = ((role == WRITE || role == DOWNGRADE) -> OP_DW : OP_DR)
	:: op == OP_DR ->
		down_read();
		if
		:: ret != 0 -> ret = 0; op = OP_NONE
		:: ret == 0 && role == RECUR && rholds[me] == 1 -> op = OP_DR  /* read it again */
		:: ret == 0 && !(role == RECUR && rholds[me] == 1) -> op = OP_UR
		fi
	:: op == OP_UR ->
		if
		:: role == LONGREAD -> (ndone == NT - 1)  /* outlive the others */
		:: else
		fi;
		up_read();
		op = (rholds[me] > 0 -> OP_UR : OP_NONE)
	:: op == OP_DW ->
		down_write();
		if
		:: ret != 0 -> ret = 0; op = OP_NONE
		:: ret == 0 && role == DOWNGRADE -> op = OP_DG
		:: ret == 0 && role != DOWNGRADE -> op = OP_UW
		fi
	:: op == OP_UW -> up_write(); op = OP_NONE
	:: op == OP_DG -> downgrade_write(); op = OP_UR
	od;
	ndone++
}

init
{
	atomic {
		run thread(1, ROLE1, M1, R1);
		run thread(2, ROLE2, M2, R2);
		run thread(3, ROLE3, M3, R3);
#if NT >= 4
		run thread(4, ROLE4, M4, R4);
#endif
		if :: S1 -> run sig(1, S1) :: else fi;
		if :: S2 -> run sig(2, S2) :: else fi;
		if :: S3 -> run sig(3, S3) :: else fi;
#if NT >= 4
		if :: S4 -> run sig(4, S4) :: else fi;
#endif
	}
}

/* Liveness (pan -a -f, weak fairness): every thread finishes. */
ltl live { <> (ndone == NT) }
