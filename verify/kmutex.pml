/*
 * kmutex.pml: a Promela model of the kmutex protocol, step for step as CShims/kmutex.c does it.
 * verify/README.md explains the model, the properties and how to read a counterexample.
 *
 * Each model step names the C function it stands for and that function's tag (M:<name>);
 * each tagged C function names this model.  One model step is one atomic operation of the C
 * code on shared state: a load, cmpxchg, fetch_or/and or store of the owner word, a racy load
 * of the list head, a store, exchange or futex operation on a wake word.  What the C code does under
 * wait_lock with private data (list links, the choice of the head) is folded into the step
 * that publishes it.  wait_lock itself is an explicit lock (wl), so owner-word operations of
 * other threads interleave with wait_lock sections as they do in C.
 *
 * The owner word is task << 4 | WAITERS 1 | HANDOFF 2 | PICKUP 4 | AWAKE 8 (owner.h); AWAKE is
 * "the awake head" of kmutex.c: set by the unlock that marked the head's wakeup, it lets later
 * unlocks release without wait_lock until the head clears it (TRY_BEFORE_SLEEP) or leaves.
 * (MAINLINE_UNLOCK never sets AWAKE: it is the kernel's order, kept as the reference.)
 *
 * Abstractions: the OSQ is gone (a non-waiter spinner is a thread making extra trylock
 * attempts, each after the owner word changed, giving up at any point as the spin budget
 * may); the woken head waiter's spin is the same, without the OSQ.  The spin budget and the
 * deadline are nondeterministic.  A signal is an asynchronous event (process sig): its
 * delivery ends a futex sleep with EINTR (the wait-local `signalled` of wait_for_lock()), and
 * its handler may call kmutex_interrupt_self() (pending interruption, wake word UP), which is
 * all a signal that lands while the thread is not asleep can do.  Threads in interruptible
 * mode act on either; others see a spurious wakeup.
 *
 * Switches (spin -D...):
 *   V410              the seed patch's v4.10 rule (accept owner == self when `first`, `first`
 *                     decided once after a wakeup, HANDOFF set by a separate fetch_or, no
 *                     PICKUP); C: KMUTEX_V410_HANDOFF.  Must fail: a lock handed to nobody.
 *   BUG_HANDOFF_FREE  HANDOFF set by a fetch_or apart from the failed trylock (before
 *                     "Introduce __mutex_trylock_or_handoff()", 2021); a free-lock trylock
 *                     clears HANDOFF as the kernel then did.  Must fail: HANDOFF on a free lock.
 *   BUG_KEEP_FLAGS    a waiter leaving on a signal clears only WAITERS when the list empties
 *                     (before "clear MUTEX_FLAGS if wait_list is empty due to signal", 2021).
 *                     Must fail: HANDOFF left after the last waiter.
 *   BUG_SIGNAL_FIRST  the signal and deadline checks before the waiter's trylock under
 *                     wait_lock (kmutex.c orders them the other way, see wait_for_lock()).
 *                     Must fail: a waiter leaves a lock handed to it with PICKUP.
 *   BUG_SIGNAL_LEAK   a futex EINTR sets the per-thread pending flag, as before the 17:05 review
 *                     fix (Tests/regression/signal_no_leak.c), instead
 *                     of the wait-local `signalled`.  Must fail (with -DM1=INTR -DS1=2): a later
 *                     lock call of the thread fails with -EINTR though no signal came near it.
 *   BUG_AWAKE_NO_CLEAR the waiter's trylock under wait_lock before it sleeps does not clear
 *                     AWAKE (TRY_BEFORE_SLEEP acts as TRY_PLAIN).  Must fail: the head
 *                     sleeps while every unlock releases alone (a lost wakeup).
 *   BUG_AWAKE_KEEP_ON_DEQUEUE  a head that leaves the list keeps AWAKE set.  Must fail: the
 *                     new head, asleep, is never woken.
 *   HANDOFF_TIME0     handoff time 0 (mainline's rule, KMUTEX_HANDOFF_AFTER_US=0): the head
 *                     asks on every failed wakeup and no unlock hands over unasked.  By
 *                     default the head is owed the lock after a nondeterministic time (ghost
 *                     `owed`), asks only then, and an unlock that wakes an owed sleeping head
 *                     hands it the lock unasked (head_owed_handoff()).
 *   MAINLINE_UNLOCK   the kernel's unlock order (release the word, then take wait_lock and
 *                     hand over if HANDOFF was set) instead of kmutex's release under wait_lock.
 *   LIVENESS_ONLY     drop the ownership checks (OWNER_OK, "gave up: we own nothing"), so a
 *                     variant's bug shows as what a user sees: a thread that never finishes.
 *   NO_CHECK_FREE_FLAGS, NO_CHECK_BYPASS   turn one property off, to see what else a variant
 *                     breaks (V410 turns both off: v4.10 allowed HANDOFF on a free lock and one
 *                     steal after it by design; its bug is the lock handed to nobody).
 *   NT, M1..M4, R1..R4, S1..S4, SPIN: threads, their modes (0 plain, 1 interruptible,
 *                     2 timed), rounds of lock/unlock, the signal each receives (0 none,
 *                     1 a handler calling kmutex_interrupt_self(), 2 any other handler),
 *                     spin attempts.
 */

#ifndef NT
#define NT 3
#endif
#ifndef SPIN
#define SPIN 1
#endif
/* Thread modes: kmutex_lock(), kmutex_lock_interruptible(), kmutex_lock_timeout(). */
#define PLAIN 0
#define INTR  1
#define TIMED 2
#ifndef M1
#define M1 PLAIN
#endif
#ifndef M2
#define M2 INTR
#endif
#ifndef M3
#define M3 INTR
#endif
#ifndef M4
#define M4 TIMED
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
#define S2 1
#endif
#ifndef S3
#define S3 1
#endif
#ifndef S4
#define S4 0
#endif

#ifdef V410
#define NO_CHECK_FREE_FLAGS
#define NO_CHECK_BYPASS
#endif

/* The owner word (owner.h): task id << 3 | flags; task 0 = free. */
#define WAITERS 1
#define HANDOFF 2
#define PICKUP  4
#define AWAKE   8
#define FLAGS   15
#define TASK(w) ((w) >> 4)
#define MK(t)   ((t) << 4)

/* trylock_common()'s mode (enum trylock_mode) */
#define TRY_PLAIN        0
#define TRY_HANDOFF      1
#define TRY_BEFORE_SLEEP 2

#define SLEEP 0 /* KMX_WAKE_SLEEP */
#define UP    1 /* KMX_WAKE_UP */

#define EINTR     1
#define ETIMEDOUT 2

byte word;           /* kmutex.owner */
byte wl;             /* kmutex.wait_lock: holder, 0 = free */
byte list[NT];       /* the FIFO wait list, list[0] = wait_head; 0 = no entry */
byte nw;             /* entries on the list */
bit wake[NT + 1];    /* kmutex_task.wake */
byte infutex[NT + 1];/* FUTEX_WAIT on its wake word: 0 not in it, 1 asleep, 2 ended by a signal (EINTR) */
bit pending[NT + 1]; /* task.c interrupt_pending */

/* Ghost state: what the properties talk about; no C counterpart. */
bit onlist[NT + 1];  /* on the wait list */
bit holds[NT + 1];   /* acquired the lock (fast path, trylock or pickup) and not yet let go */
byte ncs;            /* threads in their critical section */
byte hreq;           /* the waiter whose HANDOFF request stands, 0 = none */
byte ndone;          /* threads that finished all their rounds */
bit gpend[NT + 1];   /* pending[t] was set by kmutex_interrupt_self() (and not yet taken) */
bit gsleep[NT + 1];  /* a signal ended a futex sleep of t's current wait_for_lock() */
hidden byte i_;      /* loop index inside atomic list updates */
bit owed[NT + 1];    /* ghost: t has been the head long enough (waited_long_enough()) */

/*
 * waited_long_enough(): time is not modelled, only its effect: a head becomes owed at any
 * step (nondeterministically), stays owed while it is the head, and a new head starts
 * unowed (its `since` is restamped).  With HANDOFF_TIME0 (mainline's rule) every head is
 * owed from the start, and no unlock hands over unasked.
 */
#ifdef HANDOFF_TIME0
#define head_owed(t) skip
#else
#define head_owed(t) if :: owed[t] = 1 :: true -> skip fi
#endif
#ifdef HANDOFF_TIME0
#define OWED0 1
#else
#define OWED0 0
#endif
#ifdef V410
#define RELEASED 0       /* released_flags(): v4.10 has no AWAKE */
#else
#define RELEASED AWAKE   /* released_flags(): the unlock that marked the head's wakeup */
#endif

/* ---- properties checked in every state (monitor) ---------------------------------------- */

#define MUTEX_OK    (ncs <= 1)
/* HANDOFF and PICKUP are never set on a free lock. */
#ifndef NO_CHECK_FREE_FLAGS
#define FREE_OK     (TASK(word) != 0 || (word & (HANDOFF | PICKUP)) == 0)
#else
#define FREE_OK     true
#endif
/* No flag outlives the last waiter (checked whenever wait_lock is free). */
#define FLAGS_OK    (wl != 0 || nw != 0 || (word & FLAGS) == 0)
/* The lock is never owned by a thread that neither holds it nor waits on the list to pick it up. */
#ifndef LIVENESS_ONLY
#define OWNER_OK    (TASK(word) == 0 || holds[TASK(word)] || onlist[TASK(word)])
#else
#define OWNER_OK    true
#endif

active proctype monitor()
{
end:	atomic { !(MUTEX_OK && FREE_OK && FLAGS_OK && OWNER_OK) ->
		assert(MUTEX_OK); assert(FREE_OK); assert(FLAGS_OK); assert(OWNER_OK) }
}

/* Every acquisition: bounded bypass (nobody takes the lock while another waiter's handoff
 * request stands) and no double acquisition. */
inline acquired()
{
	assert(!holds[me]);
	holds[me] = 1;
#ifndef NO_CHECK_BYPASS
	assert(hreq == 0 || hreq == me);
#endif
	if
	:: hreq == me -> hreq = 0
	:: else
	fi
}

/* ---- trylock ------------------------------------------------------------------------------ */

#ifndef V410
/*
 * trylock_common() M:trylock; with handoff = 1 it is M:trylock_or_handoff.  r := 0 when we
 * took the lock (free, or picked up), else the owner's task id.
 */
inline trylock(tm)
{
	o = word;                                     /* kmx_load RELAXED */
	do
	:: atomic {
		if
		:: TASK(o) != 0 && (o & PICKUP) && TASK(o) != me -> r = TASK(o); break
		:: TASK(o) != 0 && (o & PICKUP) && TASK(o) == me -> nword = o & ~PICKUP
		:: TASK(o) != 0 && !(o & PICKUP) && tm == TRY_HANDOFF && !(o & HANDOFF) -> nword = o | HANDOFF
		:: TASK(o) != 0 && !(o & PICKUP) && tm == TRY_BEFORE_SLEEP && (o & AWAKE) -> nword = o & ~AWAKE
		:: TASK(o) != 0 && !(o & PICKUP) && !(tm == TRY_HANDOFF && !(o & HANDOFF)) &&
		   !(tm == TRY_BEFORE_SLEEP && (o & AWAKE)) -> r = TASK(o); break
		:: TASK(o) == 0 ->
#ifdef BUG_HANDOFF_FREE
			nword = MK(me) | (o & FLAGS & ~HANDOFF) /* the kernel then: clear HANDOFF */
#else
			assert((o & (HANDOFF | PICKUP)) == 0);  /* kmx_misuse "handoff flags on a free lock" */
			nword = MK(me) | (o & FLAGS)
#endif
		fi;
		if                                    /* kmx_try_cmpxchg ACQUIRE */
		:: word == o ->
			word = nword;
			if
			:: TASK(nword) == me -> r = 0; acquired()
			:: TASK(nword) != me && tm == TRY_BEFORE_SLEEP -> r = TASK(nword) /* cleared AWAKE */
			:: TASK(nword) != me && tm != TRY_BEFORE_SLEEP ->   /* we set HANDOFF */
				r = TASK(nword);
#ifndef NO_CHECK_BYPASS
				assert(hreq == 0 || hreq == me);
#endif
				hreq = me
			fi;
			nword = 0; break
		:: else -> o = word; nword = 0
		fi }
	od;
	o = 0
}
#ifndef BUG_AWAKE_NO_CLEAR
#define waiter_trylock()            trylock(TRY_BEFORE_SLEEP)
#else
#define waiter_trylock()            trylock(TRY_PLAIN)  /* the loop top leaves AWAKE set */
#endif
/* the head asks once it has been the head long enough (ghost `owed`, see head_owed()) */
#define waiter_trylock_or_handoff() trylock(((first && owed[me]) -> TRY_HANDOFF : TRY_PLAIN))


#else /* V410: trylock_v410() */

inline trylock_v410(handoff)
{
	o = word;
	do
	:: atomic {
		if
		:: TASK(o) != 0 && handoff && TASK(o) == me -> r = 0; acquired(); break  /* smp_mb */
		:: TASK(o) != 0 && !(handoff && TASK(o) == me) -> r = TASK(o); break
		:: TASK(o) == 0 ->
			if
			:: handoff -> nword = MK(me) | (o & FLAGS & ~HANDOFF)
			:: else -> nword = MK(me) | (o & FLAGS)
			fi
		fi;
		if
		:: word == o -> word = nword; r = 0; acquired(); nword = 0; break
		:: else -> o = word; nword = 0
		fi }
	od;
	o = 0
}
#define trylock(tm)                 trylock_v410(0)
#define waiter_trylock()            trylock_v410(first)
#define waiter_trylock_or_handoff() trylock_v410(first)
#endif

/* fetch_or(HANDOFF) apart from any trylock: v4.10's waiter_is_first_after_wake() and the
 * pre-2021 loop of BUG_HANDOFF_FREE. */
inline set_handoff_flag()
{
	atomic {
		word = word | HANDOFF;
		if
		:: hreq == 0 -> hreq = me
		:: else
		fi }
}

/* ---- spinning ----------------------------------------------------------------------------- */

/*
 * optimistic_spin() M:optimistic_spin with spin_on_owner() M:spin_on_owner: up to SPIN
 * trylock attempts, each after the owner word named another owner; the budget may run out
 * (or the OSQ refuse us) at any point.  r := 0 if acquired.  (The waiter's spin does not ask
 * whether it is still first: with a strict FIFO list the head stays the head until it leaves.)
 */
inline optimistic_spin()
{
	r = 255;
	do
	:: k < SPIN ->
		k++;
		trylock(0);
		if
		:: r == 0 -> break
		:: else
		fi;
		if
		:: TASK(word) != r -> skip            /* spin_on_owner: the owner changed */
		:: true -> r = 255; break             /* budget spent */
		fi
	:: true -> r = 255; break
	od;
	k = 0
}

/*
 * yield_and_spin() M:yield_and_spin: after a failed spin, a non-waiter may yield (nothing to
 * model: the scheduler is already arbitrary) and try again before it goes to the wait list,
 * or go straight there (the window closed, or spinning_works() said no).  Its passes are more
 * plain trylocks at the same place, before the enqueue, as optimistic_spin()'s are (the OSQ
 * is abstracted away): one more attempt stands for them, as SPIN=2 (3t-spin2) stands for a
 * longer spin.  Thread YIELDER alone makes it (default 1; 0: none): the attempt is the same
 * kind of step for every thread, and allowing it in all three cost 30% more states and time
 * for no interleaving of a new kind.  (make verify's 3t-handler run, whose subject is signals in
 * the wait loop, sets YIELDER=0: the yield comes before the enqueue, and the other 3t runs
 * cover it.)  r := 0 if acquired.
 */
#ifndef YIELDER
#define YIELDER 1
#endif
inline yield_and_spin()
{
	if
	:: me == YIELDER -> trylock(0)
	:: true -> r = 255
	fi
}

/* ---- the wait list (wait_list.h), under wait_lock ------------------------------------------ */

inline lock_wait_list()
{
	atomic { wl == 0 -> wl = me }                 /* kmx_wait_lock */
}

inline unlock_wait_list()
{
	wl = 0                                        /* kmx_wait_unlock */
}

/* enqueue_waiter() M:enqueue: the tail add (its wait_head store), then WAITERS if first. */
inline enqueue()
{
	atomic { list[nw] = me; nw++; onlist[me] = 1; r = (nw == 1); owed[me] = OWED0 };
	if
	:: r -> word = word | WAITERS                 /* kmx_fetch_or RELAXED */
	:: else
	fi;
	r = 0
}

/* dequeue_waiter() M:dequeue: the unlink (its wait_head store), then clear the flags if the
 * list emptied. */
inline dequeue()
{
	atomic {
		washead = (list[0] == me);            /* kmx_waiter_is_first(), before the unlink */
		i_ = 0;
		do
		:: list[i_] == me -> break
		:: else -> i_++
		od;
		do
		:: i_ + 1 < nw -> list[i_] = list[i_ + 1]; i_++
		:: else -> break
		od;
		nw--; list[nw] = 0; onlist[me] = 0; owed[me] = 0; i_ = 0;
		if                                    /* ghost: our request passes to the new head */
		:: hreq == me -> hreq = ((word & HANDOFF) && nw > 0 -> list[0] : 0)
		:: else
		fi;
		r = (nw == 0) };
	if
	:: r ->
#ifdef BUG_KEEP_FLAGS
		if
		:: ret != 0 -> word = word & ~WAITERS /* the err path cleared only WAITERS */
		:: else -> word = word & ~FLAGS
		fi
#else
		word = word & ~FLAGS                  /* kmx_fetch_and RELAXED */
#endif
	:: !r && washead ->                           /* a new head, asleep: restamp, clear AWAKE */
		owed[list[0]] = OWED0;
#ifndef BUG_AWAKE_KEEP_ON_DEQUEUE
		word = word & ~AWAKE                  /* kmx_fetch_and RELAXED (if set) */
#else
		skip
#endif
	:: else
	fi;
	r = 0; washead = 0
}

/* ---- sleeping ----------------------------------------------------------------------------- */

/* sleep_on_wake_word() M:sleep: FUTEX_WAIT while the word is SLEEP.  signalled := the sleep
 * ended in EINTR.  A timed wait may end at its deadline; then deadline_passed() stays true.
 * (An interruptible sleep has a far deadline in C, so every handler ends it with EINTR.) */
inline sleep_on_wake_word()
{
	atomic {
		if
		:: wake[me] == SLEEP -> infutex[me] = 1
		:: else                               /* EAGAIN: a waker came first */
		fi };
	if
	:: atomic { infutex[me] != 1 ->               /* woken (0), EINTR (2), or never asleep */
#ifndef BUG_SIGNAL_LEAK
		signalled = (infutex[me] == 2);
#else
		if                                    /* the old core: kmx_note_interruption() */
		:: infutex[me] == 2 && mode == INTR -> pending[me] = 1
		:: else
		fi;
#endif
		infutex[me] = 0 }
	:: atomic { mode == TIMED && infutex[me] == 1 -> expired = 1; infutex[me] = 0; signalled = 0 }
	fi
}

/* FUTEX_WAKE of t's wake word: ends a sleep in progress (possibly a later one than the waker
 * meant: a spurious wakeup, as in C); nothing otherwise. */
inline futex_wake(t)
{
	atomic {
		if
		:: infutex[t] == 1 -> infutex[t] = 0
		:: else
		fi }
}

/*
 * An asynchronous signal to thread t.  Its delivery ends a futex sleep in progress with EINTR;
 * kind 1: the handler calls kmutex_interrupt_self() M:signal (task.c), which sets the pending
 * interruption and stores UP, so a sleep not yet started finds UP and does not start.  kind 2:
 * any other handler; it touches nothing of ours.  (A plain sleep restarted under SA_RESTART is
 * the same as the signal landing before the sleep.)
 */
proctype sig(byte t; byte kind)
{
	atomic {
		printf("signal to T%d, kind %d\n", t, kind);
		if
		:: infutex[t] == 1 -> infutex[t] = 2; gsleep[t] = 1
		:: else
		fi;
		if
		:: kind == 1 -> pending[t] = 1; wake[t] = UP; gpend[t] = 1
		:: else
		fi }
}

/* ---- the lock ----------------------------------------------------------------------------- */

/* wait_for_lock() M:wait_loop, entered and left with wait_lock held.  ret := 0 / EINTR / ETIMEDOUT */
inline wait_for_lock()
{
	first = 0; gsleep[me] = 0;
	do
	:: wake[me] = SLEEP;                          /* set_current_state */
#ifndef BUG_SIGNAL_FIRST
		waiter_trylock();                     /* M:trylock, before the signal check */
		if
		:: r == 0 -> ret = 0; break
		:: else
		fi;
#endif
		if                                    /* interrupted(): kmx_take_interruption() || signalled */
		:: mode == INTR -> atomic {
			r = pending[me] | signalled;
			assert(!r || gpend[me] || gsleep[me]); /* no interruption from elsewhere */
			pending[me] = 0; gpend[me] = 0 }
		:: else -> r = 0
		fi;
		if
		:: r -> r = 0; ret = EINTR; break
		:: else
		fi;
		if                                    /* deadline_passed() */
		:: mode == TIMED && expired -> ret = ETIMEDOUT; break
		:: mode == TIMED && !expired -> expired = 1; ret = ETIMEDOUT; break
		:: !(mode == TIMED && expired) -> skip
		fi;
#ifdef BUG_SIGNAL_FIRST
		waiter_trylock();                     /* the trylock after the checks */
		if
		:: r == 0 -> ret = 0; break
		:: else
		fi;
#endif
		unlock_wait_list();
		sleep_on_wake_word();                 /* signalled = sleep_on_wake_word() */
		/* waiter_is_first_after_wake() M:woken: a racy load of wait_head */
#ifdef V410
		if
		:: !first ->
			r = (list[0] == me);
			if
			:: r -> r = 0; first = 1; set_handoff_flag()
			:: else
			fi
		:: else
		fi;
#else
		first = (list[0] == me);
#ifdef BUG_HANDOFF_FREE
		if
		:: first -> set_handoff_flag()
		:: else
		fi;
#endif
#endif
#ifdef BUG_HANDOFF_FREE
		trylock(0);
#else
		if
		:: first -> head_owed(me)
		:: else
		fi;
		waiter_trylock_or_handoff();          /* M:trylock_or_handoff */
#endif
		if
		:: r != 0 && first -> optimistic_spin() /* M:optimistic_spin, waiter */
		:: else
		fi;
		lock_wait_list();
		if
		:: r == 0 -> ret = 0; break
		:: else
		fi
	od;
	r = 0; first = 0; signalled = 0; gsleep[me] = 0
}

/* kmutex__lock_slow() M:lock_slowpath, after the fast path (kmutex__acquire_fast). */
inline lock()
{
	expired = 0;
	atomic {                                      /* fast path: cmpxchg 0 -> self, ACQUIRE */
		if
		:: word == 0 -> word = MK(me); r = 0; acquired()
		:: else -> r = 255
		fi };
	if
	:: r == 0 -> goto locked
	:: else
	fi;
	trylock(0);
	if
	:: r == 0 -> goto locked
	:: else -> assert(r != me)                    /* kmx_misuse "recursive lock by the owner" */
	fi;
	optimistic_spin();                            /* M:optimistic_spin, non-waiter (OSQ) */
	if
	:: r == 0 -> goto locked
	:: else
	fi;
	if
	:: SPIN > 0 -> yield_and_spin()               /* M:yield_and_spin (C: not when NO_SPIN) */
	:: else
	fi;
	if
	:: r == 0 -> goto locked
	:: else
	fi;
	lock_wait_list();
	trylock(0);
	if
	:: r == 0 -> unlock_wait_list(); goto locked
	:: else
	fi;
	enqueue();                                    /* M:enqueue */
	wait_for_lock();                              /* M:wait_loop */
	dequeue();                                    /* M:dequeue */
	unlock_wait_list();
	if
	:: ret == 0 -> goto locked
	:: else ->
#ifndef LIVENESS_ONLY
		assert(!holds[me] && TASK(word) != me); /* gave up: we own nothing */
#endif
		ret = 0; goto unlocked   /* and do not unlock */
	fi;
locked:
	r = 0;
	atomic { ncs++; assert(TASK(word) == me && !(word & PICKUP) && holds[me]) };
	ncs--
}

/* ---- unlock ------------------------------------------------------------------------------- */

/* The handed owner word of handed_owner_word(): v4.10 has no PICKUP. */
#ifdef V410
#define HANDED(o, n) (((o) & WAITERS) | MK(n))
#else
#define HANDED(o, n) (((o) & WAITERS) | MK(n) | (n != 0 -> PICKUP : 0))
#endif

/*
 * The kernel's wake_q_add(), in kmutex__unlock_slow under wait_lock: was_asleep = xchg(wake of
 * next, UP) == SLEEP.  The waiter arms SLEEP only under wait_lock, so UP here means it has not
 * armed a sleep since an earlier wakeup or interruption, whose own FUTEX_WAKE (or the sleep's
 * value check) covers it.
 */
inline mark_wakeup()
{
	atomic { asleep = (wake[next] == SLEEP); wake[next] = UP }  /* kmx_xchg RELAXED */
}

/* The kernel's wake_up_q(), after dropping wait_lock: FUTEX_WAKE only if was_asleep. */
inline wake_marked()
{
	if
	:: asleep -> asleep = 0; futex_wake(next)
	:: else
	fi
}

#ifndef MAINLINE_UNLOCK
/*
 * kmutex__unlock_slow() M:unlock_slowpath, after the fast path (kmutex__release_fast).  The C
 * fast path also releases a word that reads self|WAITERS|AWAKE, from a load and a cmpxchg:
 * here that is the fast step failing (it changes nothing) and the release loop's first
 * iteration succeeding.
 */
inline unlock()
{
	atomic {                                      /* fast path: cmpxchg self -> 0, RELEASE */
		if
		:: word == MK(me) -> word = 0; holds[me] = 0; r = 1
		:: else -> r = 0
		fi };
	if
	:: r -> r = 0; goto unlocked
	:: else
	fi;
	do
	:: /* release_if_no_waiters() M:release */
		o = word;
		do
		:: atomic {
			assert(TASK(o) == me && !(o & PICKUP)); /* check_unlock() */
			if                            /* nobody to wake: no flag, or an AWAKE head */
			:: (o & HANDOFF) || ((o & WAITERS) && !(o & AWAKE)) -> r = 0; break
			:: else
			fi;
			if                            /* cmpxchg to the flags alone, RELEASE */
			:: word == o -> word = o & FLAGS; holds[me] = 0; r = 1; break
			:: else -> o = word
			fi }
		od;
		o = 0;
		if
		:: r -> r = 0; goto unlocked
		:: else
		fi;
		lock_wait_list();
		if                                    /* head = kmx_wait_list_first() */
		:: nw > 0 -> next = list[0]; break
		:: else -> unlock_wait_list()         /* the last waiter left: release again */
		fi
	od;
	mark_wakeup();
	/* head_owed_handoff(): only a head that was asleep, and has been the head long enough */
#if !defined(V410) && !defined(HANDOFF_TIME0)
	if
	:: asleep -> head_owed(next); owedun = owed[next]
	:: else
	fi;
#endif
	/* release_or_hand_over() M:release_or_hand_over */
	o = word;
	do
	:: atomic {
		assert(TASK(o) == me && !(o & PICKUP));
		if
		:: word == o ->
			if
			:: (o & HANDOFF) || owedun ->
				word = HANDED(o, next);
#ifndef NO_CHECK_BYPASS
				assert(hreq == 0 || hreq == next)
#endif
			:: else -> word = (o & FLAGS) | RELEASED  /* released_flags(): the head is AWAKE */
			fi;
			holds[me] = 0; break
		:: else -> o = word
		fi }
	od;
	o = 0; owedun = 0;
	unlock_wait_list();
	wake_marked();
	next = 0
}

#else
/*
 * MAINLINE_UNLOCK: the kernel's __mutex_unlock_slowpath(), which kmutex.c left on purpose
 * (see kmutex__unlock_slow()): release the word first unless HANDOFF (M:release as it was),
 * then take wait_lock, mark the head's wakeup, and hand over if HANDOFF was set.  The wakeup
 * itself is kmutex's (mark_wakeup / wake_marked).  Checked to show that both orders keep the
 * properties; the C code follows the other one.
 */

inline unlock()
{
	atomic {
		if
		:: word == MK(me) -> word = 0; holds[me] = 0; r = 1
		:: else -> r = 0
		fi };
	if
	:: r -> r = 0; goto unlocked
	:: else
	fi;
	/* M:release: release unless HANDOFF; keep the old word in o */
	o = word;
	do
	:: atomic {
		assert(TASK(o) == me && !(o & PICKUP));
		if
		:: (o & HANDOFF) -> break
		:: else
		fi;
		if
		:: word == o -> word = o & FLAGS; holds[me] = 0; break
		:: else -> o = word
		fi }
	od;
	if
	:: !(o & (WAITERS | HANDOFF)) -> o = 0; goto unlocked
	:: else
	fi;
	lock_wait_list();
	if
	:: nw > 0 -> next = list[0]; mark_wakeup()
	:: else -> next = 0
	fi;
	if
	:: (o & HANDOFF) ->                           /* mainline's __mutex_handoff() */
		o = word;
		do
		:: atomic {
			if
			:: word == o ->
				word = HANDED(o, next); holds[me] = 0;
#ifndef NO_CHECK_BYPASS
				assert(next == 0 || hreq == 0 || hreq == next);
#endif
				break
			:: else -> o = word
			fi }
		od
	:: else
	fi;
	o = 0;
	unlock_wait_list();
	wake_marked();
	next = 0
}
#endif

/* ---- threads ------------------------------------------------------------------------------ */

proctype thread(byte me; byte mode; byte rounds)
{
	byte o, nword, r, k, next, ret;
	bit first, expired, signalled, asleep, washead, owedun;

	do
	:: rounds > 0 ->
		rounds--;
		lock();
		unlock();
unlocked:	skip
	:: else -> break
	od;
	ndone++
}

init
{
	atomic {
		run thread(1, M1, R1);
		run thread(2, M2, R2);
		run thread(3, M3, R3);
#if NT >= 4
		run thread(4, M4, R4);
#endif
		if :: S1 -> run sig(1, S1) :: else fi;
		if :: S2 -> run sig(2, S2) :: else fi;
		if :: S3 -> run sig(3, S3) :: else fi;
#if NT >= 4
		if :: S4 -> run sig(4, S4) :: else fi;
#endif
	}
}

/* Liveness (pan -a -f, weak fairness): every thread finishes every lock and unlock. */
ltl live { <> (ndone == NT) }
