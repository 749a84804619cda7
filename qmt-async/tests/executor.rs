//! The driver names no executor: a whole session (start-up, connect, subscribe, publish at QoS 1
//! and receive it back, disconnect) runs with no tokio at all, against qmt-sim on a real pty with
//! its embedded broker. Everything async here is written with std only: a `block_on` that parks
//! the thread, a port whose read half is fed by a std thread (mio readiness on the pty) and whose
//! write half writes the fd directly, and a `Timer` served by one std thread.
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::io::{self, Read as _, Write as _};
use std::os::fd::AsRawFd;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, JoinHandle, Thread};
use std::time::Duration;

use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use mio::unix::SourceFd;
use mio_serial::SerialStream;
use qmt_async::{Config, Event, Qos, Timer};
use qmt_client::{ClientOptions, ReceivedQos};
use qmt_proto::codes::GrantedQos;
use qmt_sim::{Sim, SimConfig};
use qmt_transport::reactor::{PortConfig, open_serial};
use qmt_transport::time::Instant;

/// The wait for one step. Generous: two cores shared with other builds.
const STEP: Duration = Duration::from_secs(30);

// ---- block_on: the calling thread is the executor --------------------------------------------

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `fut` on this thread until it ends, parking between wakes (an unpark that comes before
/// the park makes the park return at once, so no wake is lost).
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}

/// `work` polled together with `runner` (which must not end first) on one task.
async fn with_runner<O>(
    runner: impl Future<Output = qmt_async::RunError>,
    work: impl Future<Output = O>,
) -> O {
    let mut runner = pin!(runner);
    let mut work = pin!(work);
    poll_fn(|cx| {
        if let Poll::Ready(out) = work.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        if let Poll::Ready(e) = runner.as_mut().poll(cx) {
            panic!("the runner ended: {e}");
        }
        Poll::Pending
    })
    .await
}

// ---- the timer: one std thread sleeps until the earliest deadline ----------------------------

struct SleepState {
    at: std::time::Instant,
    done: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

#[derive(Default)]
struct Sleepers {
    list: Mutex<(Vec<Arc<SleepState>>, bool)>,
    changed: Condvar,
}

/// A [`Timer`] on std's clock: the origin is when it was made; a helper thread wakes sleepers.
#[derive(Clone)]
struct StdTimer {
    origin: std::time::Instant,
    sleepers: Arc<Sleepers>,
}

impl StdTimer {
    fn new() -> (StdTimer, JoinHandle<()>) {
        let sleepers = Arc::new(Sleepers::default());
        let s = Arc::clone(&sleepers);
        let thread = thread::spawn(move || {
            let mut guard = s.list.lock().unwrap();
            loop {
                if guard.1 {
                    return;
                }
                let now = std::time::Instant::now();
                guard.0.retain(|st| {
                    // A sleeper whose future was dropped holds only this Arc: drop it too.
                    if st.at <= now || Arc::strong_count(st) == 1 {
                        st.done.store(true, Ordering::Release);
                        if let Some(w) = st.waker.lock().unwrap().take() {
                            w.wake();
                        }
                        false
                    } else {
                        true
                    }
                });
                let next = guard.0.iter().map(|st| st.at).min();
                guard = match next {
                    Some(at) => {
                        let wait = at.saturating_duration_since(now);
                        s.changed.wait_timeout(guard, wait).unwrap().0
                    }
                    None => s.changed.wait(guard).unwrap(),
                };
            }
        });
        let timer = StdTimer {
            origin: std::time::Instant::now(),
            sleepers,
        };
        (timer, thread)
    }

    fn stop(&self) {
        self.sleepers.list.lock().unwrap().1 = true;
        self.sleepers.changed.notify_all();
    }

    fn sleep_for(&self, d: Duration) -> impl Future<Output = ()> + use<> {
        self.sleep_at(std::time::Instant::now() + d)
    }

    fn sleep_at(&self, at: std::time::Instant) -> impl Future<Output = ()> + use<> {
        let sleepers = Arc::clone(&self.sleepers);
        let mut state: Option<Arc<SleepState>> = None;
        poll_fn(move |cx| {
            if std::time::Instant::now() >= at {
                return Poll::Ready(());
            }
            match &state {
                Some(st) if st.done.load(Ordering::Acquire) => return Poll::Ready(()),
                Some(st) => *st.waker.lock().unwrap() = Some(cx.waker().clone()),
                None => {
                    let st = Arc::new(SleepState {
                        at,
                        done: AtomicBool::new(false),
                        waker: Mutex::new(Some(cx.waker().clone())),
                    });
                    sleepers.list.lock().unwrap().0.push(Arc::clone(&st));
                    sleepers.changed.notify_all();
                    state = Some(st);
                }
            }
            Poll::Pending
        })
    }
}

impl Timer for StdTimer {
    fn now(&self) -> Instant {
        let us = self.origin.elapsed().as_micros();
        Instant::from_micros(u64::try_from(us).unwrap())
    }

    fn sleep_until(&self, at: Instant) -> impl Future<Output = ()> {
        self.sleep_at(self.origin + Duration::from_micros(at.as_micros()))
    }
}

/// `fut`, or a panic naming `what` if it takes longer than [`STEP`].
async fn within<O>(timer: &StdTimer, what: &str, fut: impl Future<Output = O>) -> O {
    let mut fut = pin!(fut);
    let mut limit = pin!(timer.sleep_for(STEP));
    poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        if limit.as_mut().poll(cx).is_ready() {
            panic!("{what}: not done within {STEP:?}");
        }
        Poll::Pending
    })
    .await
}

// ---- the port: a reader thread feeds a queue; writes go straight to the fd -------------------

#[derive(Default)]
struct Inbox {
    bytes: VecDeque<u8>,
    error: Option<io::ErrorKind>,
    waker: Option<Waker>,
}

struct ReadHalf {
    inbox: Arc<Mutex<Inbox>>,
    stop: Arc<AtomicBool>,
}

struct WriteHalf(Arc<SerialStream>);

impl embedded_io_async::ErrorType for ReadHalf {
    type Error = io::Error;
}

impl embedded_io_async::ErrorType for WriteHalf {
    type Error = io::Error;
}

impl embedded_io_async::Read for ReadHalf {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, io::Error> {
        poll_fn(|cx| {
            let mut inbox = self.inbox.lock().unwrap();
            if !inbox.bytes.is_empty() {
                let n = buf.len().min(inbox.bytes.len());
                for (slot, b) in buf.iter_mut().zip(inbox.bytes.drain(..n)) {
                    *slot = b;
                }
                return Poll::Ready(Ok(n));
            }
            if let Some(kind) = inbox.error {
                return Poll::Ready(Err(io::Error::from(kind)));
            }
            inbox.waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

impl embedded_io_async::Write for WriteHalf {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, io::Error> {
        loop {
            match (&*self.0).write(buf) {
                // The pty's buffer is full (rare: the sim reads at once): try again shortly.
                // Blocking this one-thread executor for a moment is what a blocking write does.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(1));
                }
                other => return other,
            }
        }
    }

    async fn flush(&mut self) -> Result<(), io::Error> {
        Ok(())
    }
}

impl Drop for ReadHalf {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// The sim's pty opened as the std driver opens it, as two embedded-io-async halves, and the
/// reader thread.
fn port(path: &std::path::Path) -> (ReadHalf, WriteHalf, JoinHandle<()>) {
    // One fd, read by the thread and written by the executor (`&SerialStream` does both).
    let stream = Arc::new(open_serial(path.to_str().unwrap(), &PortConfig::default()).unwrap());
    let reading = Arc::clone(&stream);
    let inbox = Arc::new(Mutex::new(Inbox::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let (inbox2, stop2) = (Arc::clone(&inbox), Arc::clone(&stop));
    let thread = thread::spawn(move || {
        let mut poll = mio::Poll::new().unwrap();
        poll.registry()
            .register(
                &mut SourceFd(&reading.as_raw_fd()),
                mio::Token(0),
                mio::Interest::READABLE,
            )
            .unwrap();
        let mut events = mio::Events::with_capacity(4);
        let mut buf = [0u8; 1024];
        while !stop2.load(Ordering::Acquire) {
            // A short wait so that the thread sees `stop` soon after the read half is dropped.
            poll.poll(&mut events, Some(Duration::from_millis(50)))
                .unwrap();
            loop {
                let got = (&*reading).read(&mut buf);
                let mut inbox = inbox2.lock().unwrap();
                let more = match got {
                    Ok(0) => {
                        inbox.error = Some(io::ErrorKind::UnexpectedEof);
                        false
                    }
                    Ok(n) => {
                        inbox.bytes.extend(&buf[..n]);
                        true
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
                    Err(e) => {
                        inbox.error = Some(e.kind());
                        false
                    }
                };
                if let Some(w) = inbox.waker.take() {
                    w.wake();
                }
                if !more {
                    break;
                }
            }
        }
    });
    (ReadHalf { inbox, stop }, WriteHalf(stream), thread)
}

// ---- the session -----------------------------------------------------------------------------

#[test]
fn a_session_runs_without_tokio_on_a_std_only_executor() {
    // No tokio runtime exists in this test: a tokio timer or I/O used anywhere would panic.
    assert!(tokio::runtime::Handle::try_current().is_err());
    let sim = Sim::start(SimConfig::default()).unwrap();
    let (reader, writer, reader_thread) = port(sim.pty_path());
    let (timer, timer_thread) = StdTimer::new();
    // One thread: the no-op mutex is enough.
    let (modem, runner) = qmt_async::new::<NoopRawMutex, _, _, _, 512, 512>(
        reader,
        writer,
        timer.clone(),
        Config::default(),
    );
    let t = &timer;
    let session = async {
        within(t, "start-up", modem.ready()).await.unwrap();
        let options = ClientOptions::builder()
            .host("broker.example.com")
            .client_id("qmt-async-executor")
            .build()
            .unwrap();
        let client = modem.client(3, options).unwrap();
        within(t, "connect", client.connect()).await.unwrap();
        assert!(client.is_open());
        let granted = within(
            t,
            "subscribe",
            client.subscribe(&[("qmt/async/exec", Qos::AtLeastOnce)]),
        )
        .await
        .unwrap();
        assert_eq!(granted, [GrantedQos::AtLeastOnce]);
        within(
            t,
            "publish (PUBACK)",
            client.publish("qmt/async/exec", "no tokio", Qos::AtLeastOnce, false),
        )
        .await
        .unwrap();
        let m = loop {
            match within(t, "own message back", client.recv()).await {
                Some(Event::Message(m)) => break m,
                Some(_) => {}
                None => panic!("the client's queue ended"),
            }
        };
        assert_eq!(m.topic(), "qmt/async/exec");
        assert_eq!(m.payload_str(), Some("no tokio"));
        assert_eq!(m.qos, ReceivedQos::AtLeastOnce);
        within(t, "disconnect", client.disconnect()).await.unwrap();
        assert!(!client.is_open());
        assert_eq!(modem.pending(), 0);
    };
    block_on(with_runner(runner.run(), session));
    // The runner (and with it the read half) is dropped: both helper threads end.
    timer.stop();
    reader_thread.join().unwrap();
    timer_thread.join().unwrap();
}
