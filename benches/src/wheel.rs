//! A prototype, for measurement only: every sleep of a loop shares one libuv timer.
//!
//! `uvio::time::sleep` gives each sleep its own `uv_timer_t` handle box (216 bytes, a
//! malloc, and a node in libuv's pointer heap). Here a sleep is a 16-byte entry in a
//! `BinaryHeap` (one contiguous vector) plus a slot for its waker; one `uvio::Timer` ticks
//! every millisecond while any sleep is pending and wakes those that are due (by the loop's
//! clock, as libuv's own timers are). The `million_timers` row "uvio async, shared timer"
//! shows how much of the async variant's cost is the per-sleep handle rather than the
//! executor. Built only on uvio's public API.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use uvio::{LoopHandle, Timer};

struct Slot {
    generation: u32,
    fired: bool,
    waker: Option<Waker>,
}

struct Inner {
    lp: LoopHandle,
    timer: Timer,
    ticking: Cell<bool>,
    /// (deadline in loop milliseconds, slot, generation); stale entries are skipped.
    due: RefCell<BinaryHeap<Reverse<(u64, u32, u32)>>>,
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<u32>>,
}

/// The shared timer of one loop.
pub struct Wheel {
    inner: Rc<Inner>,
}

impl Wheel {
    pub fn new(lp: &LoopHandle) -> uvio::Result<Wheel> {
        Ok(Wheel {
            inner: Rc::new(Inner {
                lp: lp.clone(),
                timer: Timer::new(lp)?,
                ticking: Cell::new(false),
                due: RefCell::new(BinaryHeap::new()),
                slots: RefCell::new(Vec::new()),
                free: RefCell::new(Vec::new()),
            }),
        })
    }

    /// Like `uvio::time::sleep`, on the shared timer.
    pub fn sleep(&self, d: Duration) -> WheelSleep {
        WheelSleep {
            inner: Rc::clone(&self.inner),
            ms: u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
            key: None,
            done: false,
        }
    }
}

impl Inner {
    fn register(self: &Rc<Self>, ms: u64, waker: &Waker) -> (u32, u32) {
        let mut slots = self.slots.borrow_mut();
        let slot = match self.free.borrow_mut().pop() {
            Some(i) => i,
            None => {
                slots.push(Slot {
                    generation: 0,
                    fired: false,
                    waker: None,
                });
                u32::try_from(slots.len() - 1).expect("fewer than 2^32 sleeps")
            }
        };
        let s = &mut slots[slot as usize];
        s.fired = false;
        s.waker = Some(waker.clone());
        let key = (slot, s.generation);
        self.due
            .borrow_mut()
            .push(Reverse((self.lp.now().saturating_add(ms), key.0, key.1)));
        if !self.ticking.replace(true) {
            let weak = Rc::downgrade(self);
            let tick = Duration::from_millis(1);
            self.timer
                .start(tick, tick, move |t: &Timer| on_tick(&weak, t))
                .expect("start the shared timer");
        }
        key
    }

    fn release(&self, (slot, generation): (u32, u32)) {
        let mut slots = self.slots.borrow_mut();
        let s = &mut slots[slot as usize];
        if s.generation == generation {
            s.generation = s.generation.wrapping_add(1);
            s.waker = None;
            self.free.borrow_mut().push(slot);
        }
    }
}

fn on_tick(weak: &Weak<Inner>, t: &Timer) {
    let Some(inner) = weak.upgrade() else { return };
    let now = inner.lp.now();
    let mut wake = Vec::new();
    {
        let mut due = inner.due.borrow_mut();
        let mut slots = inner.slots.borrow_mut();
        while let Some(&Reverse((deadline, slot, generation))) = due.peek() {
            if deadline > now {
                break;
            }
            due.pop();
            let s = &mut slots[slot as usize];
            if s.generation == generation {
                s.fired = true;
                wake.extend(s.waker.take());
            }
        }
        if due.is_empty() {
            let _ = t.stop();
            inner.ticking.set(false);
        }
    }
    for w in wake {
        w.wake();
    }
}

/// The future of [`Wheel::sleep`].
pub struct WheelSleep {
    inner: Rc<Inner>,
    ms: u64,
    key: Option<(u32, u32)>,
    done: bool,
}

impl Future for WheelSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.done {
            return Poll::Ready(());
        }
        let Some(key) = self.key else {
            let key = self.inner.register(self.ms, cx.waker());
            self.key = Some(key);
            return Poll::Pending;
        };
        let fired = {
            let mut slots = self.inner.slots.borrow_mut();
            let s = &mut slots[key.0 as usize];
            if !s.fired && !s.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                s.waker = Some(cx.waker().clone());
            }
            s.fired
        };
        if fired {
            self.inner.release(key);
            self.key = None;
            self.done = true;
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Drop for WheelSleep {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.inner.release(key);
        }
    }
}
