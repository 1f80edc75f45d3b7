//! One libuv timer per loop for every pending [`crate::time::Sleep`].
//!
//! A sleep is a 24-byte entry in a binary heap (one contiguous vector) and a slot holding its
//! waker, instead of a timer handle of its own (a 216-byte box, a `malloc`, and a node in
//! libuv's pointer-linked timer heap). The loop's shared [`Timer`] is armed for the earliest
//! deadline and, when it fires, wakes every sleep that is due and re-arms itself for the next.
//! Deadlines are in the loop's clock (`uv_now`), exactly as `uv_timer_start` computes them, and
//! sleeps due at the same millisecond wake in the order they started: the firing times and
//! order among sleeps are those of one timer per sleep. (Against callback [`Timer`]s due in
//! the same millisecond, the due sleeps wake together, at the shared timer's turn.) With one
//! million sleeps this takes `uvio-bench million_timers` from 460 to 271 MiB and about halves
//! its CPU time (see `benches/README.md`).
//!
//! A dropped sleep leaves its heap entry behind (skipped when popped; the heap is compacted
//! when such entries outnumber the live ones); when no sleep is pending the timer is stopped,
//! so a dropped sleep never keeps the loop alive.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::rc::{Rc, Weak};
use std::task::Waker;
use std::time::Duration;

use crate::error::Result;
use crate::event_loop::{LoopHandle, LoopInner};
use crate::timer::{Listener, Timer};

/// Identifies one registration: a slot and the slot's generation when it was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    slot: u32,
    generation: u32,
}

struct Slot {
    generation: u32,
    fired: bool,
    waker: Option<Waker>,
}

/// `(deadline in loop milliseconds, start order, slot, generation)`; the smallest first.
type Due = Reverse<(u64, u64, u32, u32)>;

pub(crate) struct Sleeps {
    timer: Timer,
    /// The deadline the timer is armed for, if it is.
    armed: Cell<Option<u64>>,
    due: RefCell<BinaryHeap<Due>>,
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<u32>>,
    /// Registered and not yet fired.
    live: Cell<usize>,
    /// Heap entries of sleeps dropped before firing.
    stale: Cell<usize>,
    next_seq: Cell<u64>,
}

impl Sleeps {
    /// The sleeps of `lp`, created on first use.
    ///
    /// # Errors
    ///
    /// `EBADF` when the loop is closed.
    pub(crate) fn of(lp: &Rc<LoopInner>) -> Result<Rc<Sleeps>> {
        if let Some(s) = &*lp.sleeps.borrow() {
            return Ok(Rc::clone(s));
        }
        let timer = Timer::new(&LoopHandle {
            inner: Rc::clone(lp),
        })?;
        let sleeps = Rc::new(Sleeps {
            timer,
            armed: Cell::new(None),
            due: RefCell::new(BinaryHeap::new()),
            slots: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            live: Cell::new(0),
            stale: Cell::new(0),
            next_seq: Cell::new(0),
        });
        // The callback holds a weak reference: the loop owns the sleeps (until shutdown),
        // the sleeps own the timer, the timer owns the callback.
        let weak = Rc::downgrade(&sleeps);
        let st = sleeps.timer.h.state()?;
        st.listener
            .set(Listener::Callback(Box::new(move |_t: &Timer| {
                if let Some(s) = Weak::upgrade(&weak) {
                    s.fire();
                }
            })));
        *lp.sleeps.borrow_mut() = Some(Rc::clone(&sleeps));
        Ok(sleeps)
    }

    fn now(&self) -> u64 {
        self.timer.loop_handle().now()
    }

    /// Registers a sleep of `ms` milliseconds from the loop's current time.
    ///
    /// # Errors
    ///
    /// `EBADF` when the shared timer is closed (the loop is shutting down).
    pub(crate) fn register(&self, ms: u64, waker: &Waker) -> Result<Key> {
        let now = self.now();
        let deadline = now.saturating_add(ms);
        self.arm(now, deadline)?;
        let mut slots = self.slots.borrow_mut();
        let slot = match self.free.borrow_mut().pop() {
            Some(i) => i,
            None => {
                // More than u32::MAX simultaneous sleeps would need 100 GiB of wakers.
                let i = u32::try_from(slots.len()).expect("too many pending sleeps");
                slots.push(Slot {
                    generation: 0,
                    fired: false,
                    waker: None,
                });
                i
            }
        };
        let s = &mut slots[slot as usize];
        s.fired = false;
        s.waker = Some(waker.clone());
        let key = Key {
            slot,
            generation: s.generation,
        };
        let seq = self.next_seq.get();
        self.next_seq.set(seq + 1);
        self.due
            .borrow_mut()
            .push(Reverse((deadline, seq, slot, key.generation)));
        self.live.set(self.live.get() + 1);
        Ok(key)
    }

    /// Arms the timer for `deadline` unless it is armed for an earlier one.
    fn arm(&self, now: u64, deadline: u64) -> Result<()> {
        if self.armed.get().is_some_and(|a| a <= deadline) {
            return Ok(());
        }
        let wait = Duration::from_millis(deadline.saturating_sub(now));
        self.timer.start_raw(wait, Duration::ZERO)?;
        self.armed.set(Some(deadline));
        Ok(())
    }

    /// True once the sleep has fired; otherwise keeps `waker` to wake then.
    pub(crate) fn poll_fired(&self, key: Key, waker: &Waker) -> bool {
        let mut slots = self.slots.borrow_mut();
        let s = &mut slots[key.slot as usize];
        if s.generation != key.generation || s.fired {
            return true;
        }
        match &s.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => s.waker = Some(waker.clone()),
        }
        false
    }

    /// Forgets a registration (the sleep finished or was dropped).
    pub(crate) fn release(&self, key: Key) {
        let fired = {
            let mut slots = self.slots.borrow_mut();
            let s = &mut slots[key.slot as usize];
            if s.generation != key.generation {
                return;
            }
            s.generation = s.generation.wrapping_add(1);
            s.waker = None;
            self.free.borrow_mut().push(key.slot);
            s.fired
        };
        if fired {
            return;
        }
        // Dropped before firing: its heap entry is now stale.
        self.live.set(self.live.get() - 1);
        self.stale.set(self.stale.get() + 1);
        if self.live.get() == 0 {
            // Nothing pending: the timer must not keep the loop alive.
            let _ = self.timer.stop();
            self.armed.set(None);
            self.due.borrow_mut().clear();
            self.stale.set(0);
        } else if self.stale.get() > 64 && self.stale.get() > self.live.get() {
            let slots = self.slots.borrow();
            self.due
                .borrow_mut()
                .retain(|Reverse((_, _, slot, generation))| {
                    let s = &slots[*slot as usize];
                    s.generation == *generation && !s.fired
                });
            self.stale.set(0);
        }
    }

    /// The timer fired: wake every sleep that is due, re-arm for the next one.
    fn fire(&self) {
        self.armed.set(None);
        let now = self.now();
        let mut wake = Vec::new();
        let next = {
            let mut due = self.due.borrow_mut();
            let mut slots = self.slots.borrow_mut();
            loop {
                let Some(&Reverse((deadline, _, slot, generation))) = due.peek() else {
                    break None;
                };
                let s = &mut slots[slot as usize];
                let current = s.generation == generation && !s.fired;
                if current && deadline > now {
                    break Some(deadline);
                }
                due.pop();
                if current {
                    s.fired = true;
                    self.live.set(self.live.get() - 1);
                    wake.extend(s.waker.take());
                } else {
                    self.stale.set(self.stale.get().saturating_sub(1));
                }
            }
        };
        if let Some(deadline) = next {
            // Failing means the loop is shutting down; its tasks are being dropped.
            let _ = self.arm(now, deadline);
        }
        for w in wake {
            w.wake();
        }
    }
}
