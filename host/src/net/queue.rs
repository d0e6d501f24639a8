//! The bounded outgoing frame queue of one peer.
//!
//! # Design
//! A `VecDeque` under a short-lived mutex (never held across an `await`) and two
//! [`Notify`]s. One consumer (the peer's writer task) pops; any number of producers push,
//! either dropping the oldest frame when full ([`PeerQueue::push_drop_oldest`]) or waiting
//! for room ([`PeerQueue::push_wait`]). Closing lets the writer drain what is queued.
//!
//! The queue is bounded in frames *and* bytes: a peer that stops reading (flow control
//! stalls its writer) holds at most `max_bytes` of this node's memory, whatever the size of
//! the frames queued for it. A single frame larger than the budget is still queued alone.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::Notify;

/// Returned when pushing into a closed queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed;

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Bytes>,
    /// Bytes of `frames`.
    bytes: usize,
    closed: bool,
}

impl State {
    /// Whether `incoming` more bytes fit beside what is queued.
    fn full(&self, capacity: usize, max_bytes: usize, incoming: usize) -> bool {
        !self.frames.is_empty()
            && (self.frames.len() >= capacity || self.bytes.saturating_add(incoming) > max_bytes)
    }

    fn push(&mut self, frame: Bytes) {
        self.bytes = self.bytes.saturating_add(frame.len());
        self.frames.push_back(frame);
    }

    fn pop(&mut self) -> Option<Bytes> {
        let frame = self.frames.pop_front()?;
        self.bytes = self.bytes.saturating_sub(frame.len());
        Some(frame)
    }
}

/// A bounded multi-producer, single-consumer queue of encoded frames.
#[derive(Debug)]
pub(crate) struct PeerQueue {
    state: Mutex<State>,
    capacity: usize,
    max_bytes: usize,
    items: Notify,
    space: Notify,
}

impl PeerQueue {
    /// An empty queue holding at most `capacity` frames (at least one) and `max_bytes`
    /// bytes (beyond one frame).
    pub(crate) fn new(capacity: usize, max_bytes: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            capacity: capacity.max(1),
            max_bytes,
            items: Notify::new(),
            space: Notify::new(),
        }
    }

    // Every critical section is a few VecDeque operations that cannot panic halfway,
    // so a poisoned lock still guards a consistent queue.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends `frame`, evicting the oldest frames if the queue is full; returns how many
    /// were evicted.
    pub(crate) fn push_drop_oldest(&self, frame: Bytes) -> Result<u64, Closed> {
        let mut dropped = 0;
        {
            let mut state = self.lock();
            if state.closed {
                return Err(Closed);
            }
            while state.full(self.capacity, self.max_bytes, frame.len()) {
                state.pop();
                dropped += 1;
            }
            state.push(frame);
        }
        self.items.notify_one();
        Ok(dropped)
    }

    /// Appends `frame`, waiting while the queue is full.
    pub(crate) async fn push_wait(&self, frame: Bytes) -> Result<(), Closed> {
        loop {
            let notified = self.space.notified();
            tokio::pin!(notified);
            // Register interest before checking, so a pop between the check and the
            // await still wakes us.
            notified.as_mut().enable();
            {
                let mut state = self.lock();
                if state.closed {
                    return Err(Closed);
                }
                if !state.full(self.capacity, self.max_bytes, frame.len()) {
                    state.push(frame);
                    drop(state);
                    self.items.notify_one();
                    return Ok(());
                }
            }
            notified.await;
        }
    }

    /// Takes the oldest frame, waiting for one. `None` once the queue is closed and empty.
    pub(crate) async fn pop(&self) -> Option<Bytes> {
        loop {
            {
                let mut state = self.lock();
                if let Some(frame) = state.pop() {
                    drop(state);
                    self.space.notify_waiters();
                    return Some(frame);
                }
                if state.closed {
                    return None;
                }
            }
            // `notify_one` stores a permit when nobody waits, so a push that happened
            // after the check above is not missed.
            self.items.notified().await;
        }
    }

    /// Refuses further pushes; queued frames can still be popped.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.items.notify_one();
        self.space.notify_waiters();
    }

    /// Drops every queued frame; returns how many.
    pub(crate) fn clear(&self) -> usize {
        let n = {
            let mut state = self.lock();
            let n = state.frames.len();
            state.frames.clear();
            state.bytes = 0;
            n
        };
        self.space.notify_waiters();
        n
    }

    /// Number of queued frames.
    pub(crate) fn len(&self) -> usize {
        self.lock().frames.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn frame(n: u8) -> Bytes {
        Bytes::from(vec![n])
    }

    #[tokio::test]
    async fn drop_oldest_keeps_the_newest() {
        let q = PeerQueue::new(2, usize::MAX);
        assert_eq!(q.push_drop_oldest(frame(1)), Ok(0));
        assert_eq!(q.push_drop_oldest(frame(2)), Ok(0));
        assert_eq!(q.push_drop_oldest(frame(3)), Ok(1));
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop().await, Some(frame(2)));
        assert_eq!(q.pop().await, Some(frame(3)));
    }

    #[tokio::test]
    async fn push_wait_resumes_when_room_is_made() {
        let q = Arc::new(PeerQueue::new(1, usize::MAX));
        q.push_wait(frame(1)).await.ok();
        let producer = {
            let q = q.clone();
            tokio::spawn(async move { q.push_wait(frame(2)).await })
        };
        // The producer cannot finish until the consumer pops.
        tokio::task::yield_now().await;
        assert_eq!(q.len(), 1);
        assert_eq!(q.pop().await, Some(frame(1)));
        assert_eq!(producer.await.ok(), Some(Ok(())));
        assert_eq!(q.pop().await, Some(frame(2)));
    }

    #[tokio::test]
    async fn close_drains_then_ends() {
        let q = PeerQueue::new(4, usize::MAX);
        q.push_drop_oldest(frame(1)).ok();
        q.close();
        assert_eq!(q.push_drop_oldest(frame(2)), Err(Closed));
        assert_eq!(q.pop().await, Some(frame(1)));
        assert_eq!(q.pop().await, None);
    }

    #[tokio::test]
    async fn the_byte_budget_drops_the_oldest_and_admits_one_large_frame() {
        let q = PeerQueue::new(100, 10);
        for n in 0..4u8 {
            let dropped = q.push_drop_oldest(Bytes::from(vec![n; 4]));
            assert_eq!(dropped, Ok(u64::from(n >= 2)));
            assert!(q.lock().bytes <= 10);
        }
        assert_eq!(q.len(), 2, "two 4-byte frames fit in 10 bytes");
        // A frame over the whole budget replaces everything and is still sent.
        assert_eq!(q.push_drop_oldest(Bytes::from(vec![9; 32])), Ok(2));
        assert_eq!(q.pop().await.map(|f| f.len()), Some(32));
        assert_eq!(q.lock().bytes, 0);
    }

    /// Control: without the byte budget the same pushes keep every frame.
    #[tokio::test]
    async fn control_without_a_byte_budget_every_frame_stays() {
        let q = PeerQueue::new(100, usize::MAX);
        for n in 0..4 {
            assert_eq!(q.push_drop_oldest(Bytes::from(vec![n; 4])), Ok(0));
        }
        assert_eq!(q.len(), 4);
    }
}
