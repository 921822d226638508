/*
 * kcond.pml: a Promela model of kcond (CShims/kcond.c) with wait morphing onto a kmutex,
 * step for step as kcond.c and the morph code of kmutex.c do it.  verify/README.md, section
 * "kcond", explains the model, its abstractions and the runs.
 *
 * Model steps name the C function and tag (M:kcond_wait, M:kcond_recheck, M:kcond_signal,
 * M:kcond_broadcast, M:kcond_morph, M:kcond_moved; the mutex part M:enqueue, M:wait_loop,
 * M:dequeue, M:release, M:unlock_slowpath).
 *
 * Mutex abstraction (kmutex.pml checks the mutex protocol itself): no optimistic spin, no
 * HANDOFF/PICKUP (so no owed handoff); each trylock_common() is one atomic step (its load is
 * only a guess that the cmpxchg checks).  Kept: the owner word with WAITERS and AWAKE, wait_lock,
 * the FIFO list, enqueue's WAITERS fetch_or, TRY_BEFORE_SLEEP clearing AWAKE, dequeue clearing
 * the flags / AWAKE, release_if_no_waiters (alone with AWAKE), the unlock slow path that marks
 * the head's wakeup under wait_lock, releases with AWAKE, and futex-wakes after dropping it.
 *
 * Switches (spin -D...):
 *   NT, K1..K4 (thread kind: C_PLAIN, C_INTR, C_TIMED consumers; P_SIG, P_SIGU, P_BC, P_BCU
 *   producers: signal/broadcast under the mutex or after unlocking it), N1..N4 rounds,
 *   A1..A4 items per producer round, SPUR spurious futex wakeups in all (default 1).
 *   DESTROY                   a P_BC producer calls kcond_destroy() right after its broadcast,
 *                             with the mutex held (POSIX allows it); checks nobody touches the
 *                             kcond after the destroy returned.
 *   BUG_APPEND_AFTER_UNLOCK   the waiter appends its node after unlocking the mutex.
 *   BUG_WAKE_THEN_MOVE        broadcast wakes the first node, then moves the rest (no
 *                             kmx_wake_moved_head: the woken one's unlock was to wake them).
 *   BUG_NO_WAKE_MOVED_HEAD    the morph skips kmx_wake_moved_head().
 *   BUG_MOVER_ALWAYS_DROPS_REF the morph drops every moved waiter's ref to the kcond, even one
 *                             rechecking under c->lock after a spurious wakeup (the C code
 *                             before this model found it): a destroy right after the
 *                             broadcast returns while that waiter still touches the kcond.
 *   BUG_TIMEOUT_LOSES_SIGNAL  a waiter whose sleep timed out reports -ETIMEDOUT even if it
 *                             was signalled meanwhile.
 */

#ifndef NT
#define NT 3
#endif
#ifndef SPUR
#define SPUR 1
#endif

#define C_PLAIN 0
#define C_INTR  1
#define C_TIMED 2
#define P_SIG   3 /* lock; add; kcond_signal; unlock */
#define P_SIGU  4 /* lock; add; unlock; kcond_signal */
#define P_BC    5 /* lock; add; kcond_broadcast; unlock */
#define P_BCU   6 /* lock; add; unlock; kcond_broadcast */
#define ISPROD(k) ((k) >= P_SIG)

#ifndef K1
#define K1 C_PLAIN
#endif
#ifndef K2
#define K2 C_TIMED
#endif
#ifndef K3
#define K3 P_SIG
#endif
#ifndef K4
#define K4 C_PLAIN
#endif
#ifndef N1
#define N1 1
#endif
#ifndef N2
#define N2 1
#endif
#ifndef N3
#define N3 2
#endif
#ifndef N4
#define N4 1
#endif
#ifndef A1
#define A1 1
#endif
#ifndef A2
#define A2 1
#endif
#ifndef A3
#define A3 1
#endif
#ifndef A4
#define A4 1
#endif

/* The owner word (owner.h), without HANDOFF/PICKUP: task << 2 | WAITERS 1 | AWAKE 2. */
#define WAITERS 1
#define AWAKE   2
#define FLAGS   3
#define TASK(w) ((w) >> 2)
#define MK(t)   ((t) << 2)

#define SLEEP 0 /* KMX_WAKE_SLEEP */
#define UP    1 /* KMX_WAKE_UP */

/* kmutex_waiter.state (wait_list.h) */
#define ON_COND  1
#define WOKEN    2
#define ON_MUTEX 3
#define RECHECKING 4 /* KMX_WAITER_RECHECKING: the waiter holds its own ref to the kcond */

/* kcond__wait's ret: 0, AGAIN (recheck: sleep again), -EINTR, -ETIMEDOUT */
#define AGAIN     1
#define EINTR     2
#define ETIMEDOUT 3

/* the kmutex */
byte word;            /* kmutex.owner */
byte wl;              /* kmutex.wait_lock: holder, 0 = free */
byte ml[NT];          /* its FIFO wait list, ml[0] = head */
byte mn;
/* the kcond */
byte cl;              /* kcond.lock (a wait_lock): holder */
byte cq[NT];          /* kcond.waiters, FIFO, cq[0] = head */
byte cn;
byte refs;            /* kcond.refs (REFS_DESTROYING as the ghost-free bit below) */
bit destroying;
/* per thread */
bit wake[NT + 1];     /* kmutex_task.wake */
byte infutex[NT + 1]; /* FUTEX_WAIT: 0 not in it, 1 asleep, 2 ended by a signal (EINTR) */
bit pending[NT + 1];  /* interrupt_pending (task.c) */
byte state[NT + 1];   /* kmutex_waiter.state of the thread's kcond node */
byte spur = SPUR;     /* spurious wakeups left (any futex sleep may end for no reason) */

/* ghosts */
byte holder;          /* the thread holding the mutex (set/cleared with the owner word) */
byte items, produced, consumed, demand;
byte ndone;
bit gsig[NT + 1];     /* a signal or broadcast took t's node off the kcond list */
bit destroyed;        /* kcond_destroy() returned: the kcond's memory may be reused */
hidden byte i_;

#define FLAGS_OK (wl != 0 || mn != 0 || (word & FLAGS) == 0)
#define OWNER_OK (TASK(word) == holder)
#define FINAL_OK (consumed + items == produced && consumed >= demand)

/* Invariants in every state; at the end, the item count. */
active proctype monitor()
{
end:	atomic { !(FLAGS_OK && OWNER_OK) || ndone == NT ->
		assert(FLAGS_OK); assert(OWNER_OK);
		assert(ndone < NT || FINAL_OK) }
}

inline ml_del(t)
{
	i_ = 0;
	do
	:: ml[i_] == t -> break
	:: else -> i_++
	od;
	do
	:: i_ + 1 < mn -> ml[i_] = ml[i_ + 1]; i_++
	:: else -> break
	od;
	mn--; ml[mn] = 0; i_ = 0
}

inline cq_del(t)
{
	i_ = 0;
	do
	:: cq[i_] == t -> break
	:: else -> i_++
	od;
	do
	:: i_ + 1 < cn -> cq[i_] = cq[i_ + 1]; i_++
	:: else -> break
	od;
	cn--; cq[cn] = 0; i_ = 0
}

/* ---- futex ------------------------------------------------------------------------------ */

/* FUTEX_WAIT on wake[me] while SLEEP; ends on a FUTEX_WAKE, a signal (EINTR), the deadline
 * (timed: expired := 1) or spuriously.  signalled := ended in EINTR. */
inline futex_sleep(timed)
{
	atomic {
		if
		:: wake[me] == SLEEP -> infutex[me] = 1
		:: else                               /* EAGAIN */
		fi };
	if
	:: atomic { infutex[me] != 1 -> signalled = (infutex[me] == 2); infutex[me] = 0 }
	:: atomic { timed && infutex[me] == 1 -> expired = 1; infutex[me] = 0; signalled = 0 }
	:: atomic { spur > 0 && infutex[me] == 1 -> spur--; infutex[me] = 0; signalled = 0 }
	fi
}

inline futex_wake(t)
{
	atomic {
		if
		:: infutex[t] == 1 -> infutex[t] = 0
		:: else
		fi }
}

/* A signal whose handler calls kmutex_interrupt_self() (task.c). */
proctype sig(byte t)
{
	atomic {
		if
		:: infutex[t] == 1 -> infutex[t] = 2
		:: else
		fi;
		pending[t] = 1; wake[t] = UP }
}

/* ---- the mutex (kmutex.c, simplified: see the header) ----------------------------------- */

inline lock_wait_list()   { atomic { wl == 0 -> wl = me } }
inline unlock_wait_list() { wl = 0 }

inline take() { assert(holder == 0); word = MK(me) | (word & FLAGS); holder = me }

/* trylock_common(TRY_PLAIN) M:trylock: r := 0 if taken (also the fast path) */
inline trylock_plain()
{
	atomic {
		if
		:: TASK(word) == 0 -> take(); r = 0
		:: else -> assert(TASK(word) != me); r = 1
		fi }
}

/* waiter_trylock(): TRY_BEFORE_SLEEP, clearing AWAKE if the lock is owned */
inline trylock_before_sleep()
{
	atomic {
		if
		:: TASK(word) == 0 -> take(); r = 0
		:: else -> word = word & ~AWAKE; r = 1
		fi }
}

/* enqueue_waiter() M:enqueue (also kmx_enqueue_moved_waiter's first half): tail add, then
 * WAITERS if the list was empty. */
inline enqueue(t)
{
	atomic { ml[mn] = t; mn++; r = (mn == 1) };
	if
	:: r -> word = word | WAITERS                 /* kmx_fetch_or RELAXED */
	:: else
	fi;
	r = 0
}

/* dequeue_waiter() M:dequeue: last waiter clears all flags; a departing head clears AWAKE
 * (load + fetch_and folded: only the head clears it, and it is set only under wait_lock). */
inline dequeue()
{
	atomic {
		r = (ml[0] == me);
		ml_del(me);
		if
		:: mn == 0 -> r = 2
		:: else
		fi };
	if
	:: r == 2 -> word = word & ~FLAGS
	:: r == 1 -> word = word & ~AWAKE
	:: r == 0
	fi;
	r = 0
}

/* wait_for_lock() M:wait_loop, plain mode.  Entered with wait_lock held, or (woken = 1) as a
 * moved kcond waiter just back from its sleep (M:kcond_moved); left with wait_lock held. */
inline wait_for_lock()
{
	do
	:: true ->
		if
		:: !woken ->
			wake[me] = SLEEP;             /* set_current_state, under wait_lock */
			trylock_before_sleep();
			if
			:: r == 0 -> break
			:: else
			fi;
			unlock_wait_list();
			futex_sleep(0)                /* M:sleep */
		:: else -> woken = 0
		fi;
		/* woken_up: waiter_trylock_or_handoff, without handoff */
		trylock_plain();
		lock_wait_list();
		if
		:: r == 0 -> break
		:: else
		fi
	od;
	r = 0; signalled = 0
}

/* kmutex_lock(): fast path / trylock, then M:lock_slowpath */
inline mutex_lock()
{
	trylock_plain();
	if
	:: r != 0 ->
		lock_wait_list();
		trylock_plain();
		if
		:: r == 0 -> unlock_wait_list()
		:: else ->
			enqueue(me);
			woken = 0;
			wait_for_lock();
			dequeue();
			unlock_wait_list()
		fi
	:: else
	fi;
	r = 0
}

/* release_if_no_waiters() M:release (and the fast path): r := 1 if wait_lock is needed */
inline release_if_no_waiters()
{
	atomic {
		assert(holder == me);
		if
		:: (word & WAITERS) && !(word & AWAKE) -> r = 1
		:: else -> word = word & FLAGS; holder = 0; r = 0
		fi }
}

/* kmutex_unlock(): M:unlock_slowpath */
inline mutex_unlock()
{
	do
	:: release_if_no_waiters();
		if
		:: r == 0 -> break
		:: else
		fi;
		lock_wait_list();
		if
		:: mn > 0 -> break
		:: else -> unlock_wait_list()     /* the last waiter left: release again */
		fi
	od;
	if
	:: r == 1 ->
		next = ml[0];
		atomic { asleep = (wake[next] == SLEEP); wake[next] = UP };  /* mark_wakeup */
		atomic { word = (word & FLAGS) | AWAKE; holder = 0 };        /* release_or_hand_over */
		unlock_wait_list();
		if
		:: asleep -> futex_wake(next)
		:: else
		fi;
		asleep = 0; next = 0
	:: else
	fi;
	r = 0
}

/* kmx_lock_moved_waiter() M:kcond_moved */
inline lock_moved_waiter()
{
	woken = 1;
	wait_for_lock();
	dequeue();
	unlock_wait_list()
}

/* ---- the kcond -------------------------------------------------------------------------- */

inline lock_cond()
{
	assert(!destroyed);                           /* touches c->lock */
	atomic { cl == 0 -> assert(!destroyed); cl = me }
}
inline unlock_cond() { cl = 0 }

inline put_ref() { atomic { assert(!destroyed); refs-- } }

/* enqueue_on_cond() M:kcond_wait (enqueue) */
inline enqueue_on_cond()
{
	lock_cond();
	wake[me] = SLEEP;
	atomic { cq[cn] = me; cn++; state[me] = ON_COND; gsig[me] = 0 };
	unlock_cond()
}

/* sleep_once() */
inline sleep_once()
{
	if
	:: kind == C_INTR && pending[me] -> signalled = 0
	:: else -> futex_sleep(kind == C_TIMED)
	fi
}

/* recheck_under_lock() M:kcond_recheck */
inline recheck_under_lock()
{
	lock_cond();
	if
	:: state[me] != RECHECKING -> ret = 0       /* signalled or moved meanwhile */
	:: else ->
		if
		:: kind == C_INTR && (pending[me] || signalled) -> pending[me] = 0; ret = EINTR
		:: kind == C_TIMED && expired -> ret = ETIMEDOUT
		:: kind == C_TIMED && !expired -> expired = 1; ret = ETIMEDOUT  /* deadline passes now */
		:: !(kind == C_INTR && (pending[me] || signalled)) && !(kind == C_TIMED && expired) ->
			wake[me] = SLEEP; state[me] = ON_COND; ret = AGAIN  /* spurious: re-arm */
		fi
	fi;
	if
	:: ret >= EINTR -> atomic { cq_del(me) }
	:: else
	fi;
	unlock_cond()
}

/* kcond__wait() M:kcond_wait, mode by kind; ret := 0 / EINTR / ETIMEDOUT */
inline kcond_wait()
{
	assert(holder == me);                         /* "the mutex is not held by the caller" */
	atomic { assert(!destroyed); refs++ };
#ifndef BUG_APPEND_AFTER_UNLOCK
	enqueue_on_cond();
	mutex_unlock();
#else
	mutex_unlock();
	enqueue_on_cond();
#endif
	do
	:: sleep_once();
#ifdef BUG_TIMEOUT_LOSES_SIGNAL
		if
		:: kind == C_TIMED && expired ->
			lock_cond();
			if
			:: state[me] == ON_COND -> atomic { cq_del(me) }
			:: else
			fi;
			unlock_cond();
			ret = ETIMEDOUT; break
		:: else
		fi;
#endif
		/* cmpxchg ON_COND -> RECHECKING (ACQUIRE); failed: WOKEN or ON_MUTEX */
		atomic {
			if
			:: state[me] == ON_COND -> state[me] = RECHECKING; rechk = 1
			:: else -> ret = 0; ownref = (state[me] != ON_MUTEX)
			fi }
		if
		:: !rechk -> break
		:: else
		fi;
		recheck_under_lock();
		rechk = 0;
		if
		:: ret != AGAIN -> break
		:: else
		fi
	od;
	signalled = 0;
	if
	:: ownref -> put_ref()
	:: else
	fi;
	ownref = 1;
	if                                            /* mutex_relock() */
	:: state[me] == ON_MUTEX -> lock_moved_waiter()
	:: else -> mutex_lock()
	fi;
	assert(holder == me);                         /* the mutex held on return */
	assert(ret == 0 || !gsig[me])                 /* a signalled or moved waiter returns 0 */
}

/* wake_first() M:kcond_signal, under c->lock */
inline wake_first()
{
	atomic { next = cq[0]; cq_del(next); gsig[next] = 1 };
	state[next] = WOKEN;                          /* RELEASE */
	atomic { asleep = (wake[next] == SLEEP); wake[next] = UP }   /* xchg */
}

/* move_to_mutex() M:kcond_morph, under c->lock */
inline move_to_mutex()
{
	lock_wait_list();
	do
	:: atomic { w = cq[0]; cq_del(w); gsig[w] = 1 };
		enqueue(w);                           /* kmx_enqueue_moved_waiter */
		atomic { r = state[w]; state[w] = ON_MUTEX }  /* xchg, RELEASE */
#ifndef BUG_MOVER_ALWAYS_DROPS_REF
		if                                    /* on the waiter's behalf, unless it */
		:: r != RECHECKING -> put_ref()       /* is rechecking under c->lock */
		:: else
		fi;
#else
		put_ref();
#endif
		r = 0;
		if
		:: cn == 0 -> break
		:: else
		fi
	od;
	w = 0;
#ifndef BUG_NO_WAKE_MOVED_HEAD
	atomic { r = TASK(word); word = word | WAITERS };  /* kmx_wake_moved_head: fetch_or */
	if
	:: r == 0 -> next = ml[0];
		atomic { asleep = (wake[next] == SLEEP); wake[next] = UP }
	:: else
	fi;
	r = 0;
#endif
	unlock_wait_list()
}

/* wake_waiters() M:kcond_signal / M:kcond_broadcast */
inline wake_waiters(all)
{
	atomic { assert(!destroyed); r = cn };        /* racy load of c->waiters */
	if
	:: r == 0
	:: else ->
		r = 0;
		lock_cond();
		if
		:: cn > 0 && all ->
#ifndef BUG_WAKE_THEN_MOVE
			move_to_mutex()
#else
			wake_first();
			if
			:: asleep -> futex_wake(next)
			:: else
			fi;
			asleep = 0; next = 0;
			if
			:: cn > 0 ->
				lock_wait_list();
				do
				:: atomic { w = cq[0]; cq_del(w); gsig[w] = 1 };
					enqueue(w);
					state[w] = ON_MUTEX;
					put_ref();
					if
					:: cn == 0 -> break
					:: else
					fi
				od;
				w = 0;
				unlock_wait_list()
			:: else
			fi
#endif
		:: cn > 0 && !all -> wake_first()
		:: cn == 0
		fi;
		unlock_cond();
		if
		:: asleep -> futex_wake(next)
		:: else
		fi;
		asleep = 0; next = 0
	fi;
	r = 0
}

/* kcond_destroy(): no waiters on the list, then wait for refs to drop */
inline kcond_destroy()
{
	lock_cond();
	assert(cn == 0);                              /* "destroy ... with waiters" */
	unlock_cond();
	destroying = 1;
	atomic { refs == 0 -> destroyed = 1 }         /* the futex wait on refs, abstracted */
}

/* ---- threads ---------------------------------------------------------------------------- */

proctype thread(byte me; byte kind; byte rounds; byte add)
{
	byte r, ret, next, w;
	bit asleep, expired, signalled, woken;
	bit rechk;       /* the cmpxchg to RECHECKING succeeded */
	bit ownref = 1;  /* the waiter still holds its own ref (the mover did not drop it) */

	do
	:: rounds > 0 && !ISPROD(kind) ->
		rounds--;
		mutex_lock();
		ret = 0; expired = 0;
		do
		:: items > 0 -> break
		:: items == 0 ->
			kcond_wait();
			if
			:: ret != 0 -> break          /* gave up, without a look at the predicate */
			:: else
			fi
		od;
		if
		:: ret == 0 -> assert(items > 0); items--; consumed++
		:: else
		fi;
		ret = 0;
		mutex_unlock()
	:: rounds > 0 && ISPROD(kind) ->
		rounds--;
		mutex_lock();
		items = items + add; produced = produced + add;
		if
		:: kind == P_SIG -> wake_waiters(0); mutex_unlock()
		:: kind == P_BC -> wake_waiters(1);
#ifdef DESTROY
			kcond_destroy();
#endif
			mutex_unlock()
		:: kind == P_SIGU -> mutex_unlock(); wake_waiters(0)
		:: kind == P_BCU -> mutex_unlock(); wake_waiters(1)
		fi
	:: rounds == 0 -> break
	od;
	ndone++
}

/* Consumers that must finish (plain, interruptible: they may give up, which we do not
 * know in advance) are counted in `demand` as they consume, see FINAL_OK. */
#define DEM(k, n) (((k) == C_PLAIN) -> (n) : 0)

init
{
	atomic {
		run thread(1, K1, N1, A1);
		run thread(2, K2, N2, A2);
		run thread(3, K3, N3, A3);
#if NT >= 4
		run thread(4, K4, N4, A4);
#endif
#if NT >= 4
		demand = DEM(K1, N1) + DEM(K2, N2) + DEM(K3, N3) + DEM(K4, N4);
#else
		demand = DEM(K1, N1) + DEM(K2, N2) + DEM(K3, N3);
#endif
		if :: K1 == C_INTR -> run sig(1) :: else fi;
		if :: K2 == C_INTR -> run sig(2) :: else fi;
		if :: K3 == C_INTR -> run sig(3) :: else fi;
#if NT >= 4
		if :: K4 == C_INTR -> run sig(4) :: else fi;
#endif
	}
}

ltl live { <> (ndone == NT) }
