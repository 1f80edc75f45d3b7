//! Quick end-to-end checks of the foundation.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use uvio::{Loop, RunMode, Timer};

#[test]
fn timer_and_tasks() {
    let lp = Loop::new().unwrap();
    let n = Rc::new(Cell::new(0));
    let t = Timer::new(&lp).unwrap();
    let n2 = n.clone();
    t.start(
        Duration::from_millis(1),
        Duration::from_millis(1),
        move |t| {
            n2.set(n2.get() + 1);
            if n2.get() == 3 {
                t.close().unwrap();
            }
        },
    )
    .unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(n.get(), 3);
    assert!(t.close().is_err());
    let v = lp
        .block_on(async {
            let a = uvio::spawn_local(async {
                uvio::time::sleep(Duration::from_millis(3)).await;
                5
            });
            a.await.unwrap() + 1
        })
        .unwrap();
    assert_eq!(v, 6);
    let _open = Timer::new(&lp).unwrap();
    drop(lp);
}

#[test]
fn cross_thread_wakes() {
    let lp = Loop::new().unwrap();
    let got = lp
        .block_on(async {
            let (tx, rx) = futures::channel::oneshot::channel::<u32>();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(5));
                tx.send(9).unwrap();
            });
            rx.await.unwrap()
        })
        .unwrap();
    assert_eq!(got, 9);
}

#[test]
fn panic_in_callback_is_resumed() {
    let lp = Loop::new().unwrap();
    let t = Timer::new(&lp).unwrap();
    t.start(Duration::ZERO, Duration::ZERO, |_| panic!("boom"))
        .unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.run(RunMode::Default)));
    assert!(r.is_err());
    drop(t);
    drop(lp);
}

#[test]
fn work_both_styles() {
    let lp = Loop::new().unwrap();
    let got = Rc::new(Cell::new(0));
    let g = got.clone();
    let _w = uvio::queue_work(&lp, || 40 + 2, move |r| g.set(r.unwrap())).unwrap();
    lp.run(RunMode::Default).unwrap();
    assert_eq!(got.get(), 42);
    let v = lp
        .block_on(async { uvio::spawn_blocking(|| 7).await.unwrap() })
        .unwrap();
    assert_eq!(v, 7);
    // dropped while queued or running: nothing leaks
    lp.block_on(async {
        let f = uvio::spawn_blocking(|| std::thread::sleep(Duration::from_millis(20)));
        drop(f);
        uvio::time::sleep(Duration::from_millis(30)).await;
    })
    .unwrap();
}
