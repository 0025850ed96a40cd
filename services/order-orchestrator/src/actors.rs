//! The saga actors: one actix actor per in-flight order saga, spread over several
//! arbiters (threads) of an actix system that runs beside the Tokio runtime.
//!
//! An actor owns its saga in this process: it takes the saga's inputs one at a time (an
//! [`AtomicResponse`] keeps the mailbox closed while a transition runs, so replies, timers
//! and operator actions of one saga never interleave), and it keeps the saga's timer (step
//! timeout, backoff, re-verification) armed. The transition itself runs on the Tokio
//! runtime's worker pool ([`Engine::apply`]), so database work never blocks an arbiter.
//! Actors of sagas that wait for nothing (parked, failed, finished) stop; any input starts
//! them again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;
use uuid::Uuid;

use crate::engine::{Applied, Engine, EngineError, Input};
use crate::saga::SagaState;

/// Drives one input through a saga's actor.
#[derive(Message)]
#[rtype(result = "Result<Applied, EngineError>")]
struct Drive(Input);

/// The actor of one saga.
struct SagaActor {
    id: Uuid,
    generation: u64,
    engine: Arc<Engine>,
    runtime: tokio::runtime::Handle,
    actors: Weak<SagaActors>,
    timer: Option<SpawnHandle>,
}

impl Actor for SagaActor {
    type Context = Context<Self>;

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        if let Some(actors) = self.actors.upgrade() {
            actors.forget(self.id, self.generation);
        }
    }
}

impl Handler<Drive> for SagaActor {
    type Result = AtomicResponse<Self, Result<Applied, EngineError>>;

    fn handle(&mut self, msg: Drive, _ctx: &mut Self::Context) -> Self::Result {
        let engine = self.engine.clone();
        let id = self.id;
        let task = self
            .runtime
            .spawn(async move { engine.apply(id, msg.0).await });
        let work = async move {
            task.await.unwrap_or_else(|join| {
                tracing::error!(saga = %id, error = %join, "saga transition panicked");
                Err(EngineError::Stopping)
            })
        };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(|result, actor, ctx| {
            actor.after(ctx, &result);
            result
        })))
    }
}

impl SagaActor {
    /// Re-arms the timer, wakes the sagas this one released, stops when idle.
    fn after(&mut self, ctx: &mut Context<Self>, result: &Result<Applied, EngineError>) {
        let Ok(applied) = result else {
            return;
        };
        if let Some(actors) = self.actors.upgrade() {
            for id in &applied.wake {
                actors.send(*id, Input::CustomerReleased);
            }
        }
        if applied.saga_id != self.id || applied.state != Some(SagaState::Running) {
            // Duplicate order events, finished, parked or failed sagas: nothing to wait for
            // here. The sweeper and new inputs bring the actor back when needed.
            ctx.stop();
            return;
        }
        if let Some(timer) = self.timer.take() {
            ctx.cancel_future(timer);
        }
        if let Some(at) = applied.next_attempt_at {
            let delay = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            self.timer = Some(ctx.run_later(delay, |actor, ctx| {
                actor.timer = None;
                let addr = ctx.address();
                let id = actor.id;
                ctx.spawn(
                    async move {
                        if let Ok(Err(error)) = addr.send(Drive(Input::Timer)).await {
                            tracing::warn!(saga = %id, %error, "saga timer failed; the sweeper will try again");
                        }
                    }
                    .into_actor(actor),
                );
            }));
        }
    }
}

/// The actor system: the arbiters and the registry of live saga actors.
pub struct SagaActors {
    engine: Arc<Engine>,
    runtime: tokio::runtime::Handle,
    arbiters: Vec<ArbiterHandle>,
    next_arbiter: AtomicUsize,
    generation: AtomicU64,
    live: Mutex<HashMap<Uuid, (u64, Addr<SagaActor>)>>,
    system: Mutex<Option<(System, std::thread::JoinHandle<()>)>>,
}

impl std::fmt::Debug for SagaActors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SagaActors")
            .field("arbiters", &self.arbiters.len())
            .finish_non_exhaustive()
    }
}

/// Why the actor system could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the saga actor system: {0}")]
pub struct StartError(String);

impl SagaActors {
    /// Starts an actix system with `arbiters` arbiters on threads of its own. Must be
    /// called inside the Tokio runtime that runs the transitions.
    pub fn start(engine: Arc<Engine>, arbiters: usize) -> Result<Arc<Self>, StartError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| StartError("not inside a Tokio runtime".into()))?;
        let (tx, rx) = std::sync::mpsc::channel();
        let count = arbiters.max(1);
        let thread = std::thread::Builder::new()
            .name("saga-actors".into())
            .spawn(move || {
                let runner = System::new();
                let arbiters: Vec<Arbiter> =
                    runner.block_on(async { (0..count).map(|_| Arbiter::new()).collect() });
                let handles: Vec<ArbiterHandle> = arbiters.iter().map(Arbiter::handle).collect();
                let system = runner.block_on(async { System::current() });
                if tx.send((system, handles)).is_err() {
                    return;
                }
                if let Err(error) = runner.run() {
                    tracing::error!(%error, "saga actor system ended with an error");
                }
                for arbiter in arbiters {
                    arbiter.stop();
                    let _ = arbiter.join();
                }
            })
            .map_err(|e| StartError(e.to_string()))?;
        let (system, handles) = rx
            .recv()
            .map_err(|_| StartError("the actor thread ended during start".into()))?;
        Ok(Arc::new(Self {
            engine,
            runtime,
            arbiters: handles,
            next_arbiter: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            live: Mutex::new(HashMap::new()),
            system: Mutex::new(Some((system, thread))),
        }))
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Saga actors alive in this process.
    pub fn live(&self) -> usize {
        self.live.lock().map(|l| l.len()).unwrap_or(0)
    }

    /// Whether saga `id` has an actor alive in this process (then the saga exists: actors
    /// start for sagas only).
    pub fn is_live(&self, id: Uuid) -> bool {
        self.live
            .lock()
            .is_ok_and(|l| l.get(&id).is_some_and(|(_, addr)| addr.connected()))
    }

    /// Sends `input` to saga `id`'s actor (starting it if needed) and waits for the result.
    pub async fn drive(self: &Arc<Self>, id: Uuid, input: Input) -> Result<Applied, EngineError> {
        for _ in 0..5 {
            let addr = self.actor(id)?;
            match addr.send(Drive(input.clone())).await {
                Ok(result) => return result,
                // The actor stopped between lookup and send: start a fresh one.
                Err(_) => self.forget_addr(id, &addr),
            }
        }
        Err(EngineError::Stopping)
    }

    /// Sends a timer input to saga `id` without waiting (sweeper).
    pub fn poke(self: &Arc<Self>, id: Uuid) {
        self.send(id, Input::Timer);
    }

    /// Sends `input` (a timer or a wake-up) to saga `id` without waiting.
    fn send(self: &Arc<Self>, id: Uuid, input: Input) {
        let actors = self.clone();
        self.runtime.spawn(async move {
            if let Err(error) = actors.drive(id, input).await {
                tracing::debug!(saga = %id, %error, "saga timer input failed; the sweeper will try again");
            }
        });
    }

    fn actor(self: &Arc<Self>, id: Uuid) -> Result<Addr<SagaActor>, EngineError> {
        let mut live = self.live.lock().map_err(|_| EngineError::Stopping)?;
        if let Some((_, addr)) = live.get(&id)
            && addr.connected()
        {
            return Ok(addr.clone());
        }
        if self.arbiters.is_empty() {
            return Err(EngineError::Stopping);
        }
        let index = self.next_arbiter.fetch_add(1, Ordering::Relaxed) % self.arbiters.len();
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let actor = SagaActor {
            id,
            generation,
            engine: self.engine.clone(),
            runtime: self.runtime.clone(),
            actors: Arc::downgrade(self),
            timer: None,
        };
        let addr = SagaActor::start_in_arbiter(&self.arbiters[index], move |_| actor);
        live.insert(id, (generation, addr.clone()));
        Ok(addr)
    }

    fn forget(&self, id: Uuid, generation: u64) {
        if let Ok(mut live) = self.live.lock()
            && live.get(&id).is_some_and(|(g, _)| *g == generation)
        {
            live.remove(&id);
        }
    }

    fn forget_addr(&self, id: Uuid, addr: &Addr<SagaActor>) {
        if let Ok(mut live) = self.live.lock()
            && live.get(&id).is_some_and(|(_, a)| a == addr)
        {
            live.remove(&id);
        }
    }

    /// Stops the actor system and waits for its threads.
    pub async fn stop(&self) {
        let taken = self.system.lock().ok().and_then(|mut s| s.take());
        if let Some((system, thread)) = taken {
            system.stop();
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}
