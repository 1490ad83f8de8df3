//! `stsguard serve`'s view of the cluster: one kube-runtime watch per kind (list, then
//! watch, resumed with kube-runtime's backoff after any error), each folded into the engine's
//! [`Inventory`], which requests read without ever calling the API server (SPEC §8).
//!
//! - A kind is unknown (its rules off) until its first list completes; after that its index
//!   stays in use whatever happens to the watch: an API server that goes away leaves the
//!   last state serving, and the watch resumes (relisting when it must) when it is back.
//! - A kind RBAC forbids, or whose API the cluster does not serve, is reported once and its
//!   rules stay off; the watch keeps retrying with backoff, so a later grant is picked up.
//! - [`Watches::settled`] tells readiness: every kind listed once or unavailable.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use arc_swap::{ArcSwap, Guard};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use kube::Client;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::Unavailable;
use super::kinds::{Folded, Kind, WithKind};
use crate::engine::cluster::Inventory;

/// Where a kind's watch stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// Not listed yet: its rules are off.
    Pending = 0,
    /// Listed at least once: its index is in use.
    Synced = 1,
    /// Forbidden or not served: its rules are off.
    Forbidden = 2,
    NotServed = 3,
    /// Not watched at all (Secrets without `--cluster-secrets`).
    Off = 4,
}

impl Status {
    fn from_u8(value: u8) -> Status {
        match value {
            1 => Status::Synced,
            2 => Status::Forbidden,
            3 => Status::NotServed,
            4 => Status::Off,
            _ => Status::Pending,
        }
    }
}

/// What the watches report, for metrics.
pub trait Observer: Send + Sync + 'static {
    /// Objects of a kind in its index.
    fn objects(&self, kind: Kind, count: usize);
    /// Whether a kind has listed.
    fn synced(&self, kind: Kind, synced: bool);
    /// A failed list or watch of a kind.
    fn watch_error(&self, kind: Kind);
}

/// An observer that records nothing.
pub struct Unobserved;

impl Observer for Unobserved {
    fn objects(&self, _: Kind, _: usize) {}
    fn synced(&self, _: Kind, _: bool) {}
    fn watch_error(&self, _: Kind) {}
}

/// What the watch tasks and the readers share.
struct Shared {
    inventory: ArcSwap<Inventory>,
    status: [AtomicU8; Kind::ALL.len()],
    /// Woken whenever a kind's status changes.
    changed: Notify,
    observer: Arc<dyn Observer>,
}

impl Shared {
    fn set(&self, kind: Kind, status: Status) {
        let previous = self.status[kind.index()].swap(status as u8, Ordering::SeqCst);
        if previous != status as u8 {
            self.changed.notify_waiters();
        }
    }

    fn get(&self, kind: Kind) -> Status {
        Status::from_u8(self.status[kind.index()].load(Ordering::SeqCst))
    }
}

/// The running watches. Dropping it stops them.
pub struct Watches {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Watches {
    /// Starts one watch per kind (Secrets only with `secrets`) on the current tokio runtime.
    pub fn start(client: Client, secrets: bool, observer: Arc<dyn Observer>) -> Watches {
        let shared = Arc::new(Shared {
            inventory: ArcSwap::from_pointee(Inventory::default()),
            status: std::array::from_fn(|_| AtomicU8::new(Status::Pending as u8)),
            changed: Notify::new(),
            observer,
        });
        let mut tasks = Vec::new();
        for kind in Kind::ALL {
            if kind == Kind::Secret && !secrets {
                shared.set(kind, Status::Off);
                continue;
            }
            shared.observer.synced(kind, false);
            tasks.push(tokio::spawn(kind.with(Watch {
                client: client.clone(),
                shared: Arc::clone(&shared),
            })));
        }
        Watches { shared, tasks }
    }

    /// The cluster as the watches know it now: a snapshot for one review.
    pub fn inventory(&self) -> Guard<Arc<Inventory>> {
        self.shared.inventory.load()
    }

    /// Where each kind's watch stands.
    pub fn status(&self) -> Vec<(Kind, Status)> {
        Kind::ALL
            .into_iter()
            .map(|kind| (kind, self.shared.get(kind)))
            .collect()
    }

    /// The kinds still waiting for their first list.
    pub fn pending(&self) -> Vec<Kind> {
        Kind::ALL
            .into_iter()
            .filter(|kind| self.shared.get(*kind) == Status::Pending)
            .collect()
    }

    /// Whether every watched kind has listed once or is unavailable.
    pub fn settled(&self) -> bool {
        self.pending().is_empty()
    }

    /// Waits until [`Watches::settled`], at most `limit`; the kinds still pending then.
    pub async fn wait_settled(&self, limit: Duration) -> Vec<Kind> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let changed = self.shared.changed.notified();
            if self.settled() {
                return Vec::new();
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.pending();
            }
        }
    }
}

impl Drop for Watches {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Watches one kind: the task [`Watches::start`] spawns.
struct Watch {
    client: Client,
    shared: Arc<Shared>,
}

impl WithKind for Watch {
    type Output = BoxFuture<'static, ()>;

    fn with<K: Folded>(self) -> Self::Output {
        run::<K>(self.client, self.shared).boxed()
    }
}

/// Events taken at once: a burst (the initial list, a relist) is folded in one go and
/// published once.
const BATCH: usize = 512;

/// Objects per page of a (re)list. Each page arrives and is parsed whole before it is folded,
/// and what the first lists take stays resident: with 10,000 Services and 1,000 Nodes, pages
/// of 100 rather than kube's 500 leave about 5 MiB less, for 0.1 s more to list them all
/// (BENCHMARKS.md).
const PAGE: u32 = 100;

/// Watches one kind for as long as the task lives.
async fn run<K: Folded>(client: Client, shared: Arc<Shared>) {
    let kind = K::KIND;
    // `Init` is dropped before the backoff: it comes before each attempt to list, and the
    // backoff resets on every item that is not an error, so a list that keeps failing would
    // be retried every 800 ms for ever. A (re)list starts with its first `InitApply` or its
    // `InitDone`; a failed one is dropped at its error, and the watcher lists again.
    let events = K::watch(client, watcher::Config::default().page_size(PAGE))
        .filter(|event| std::future::ready(!matches!(event, Ok(Event::Init))))
        .default_backoff()
        .ready_chunks(BATCH);
    futures::pin_mut!(events);
    // `state` is `None` until the first list completes; `listing` collects a (re)list.
    let mut state: Option<K::State> = None;
    let mut listing: Option<K::State> = None;
    let mut health = Health::default();
    while let Some(batch) = events.next().await {
        let mut changed = false;
        for event in batch {
            if event.is_ok() {
                health.working(kind);
            }
            match event {
                Ok(Event::Init) => {}
                Ok(Event::InitApply(object)) => {
                    K::upsert(listing.get_or_insert_default(), &object);
                }
                Ok(Event::InitDone) => {
                    let listed = listing.take().unwrap_or_default();
                    if state.is_none() {
                        tracing::info!(
                            kind = kind.as_str(),
                            objects = K::count(&listed),
                            "cluster watch synced"
                        );
                    }
                    state = Some(listed);
                    changed = true;
                    health.unavailable = None;
                    shared.set(kind, Status::Synced);
                    shared.observer.synced(kind, true);
                }
                Ok(Event::Apply(object)) => {
                    if let Some(state) = state.as_mut() {
                        changed |= K::upsert(state, &object);
                    }
                }
                Ok(Event::Delete(object)) => {
                    if let Some(state) = state.as_mut() {
                        changed |= K::remove(state, &object);
                    }
                }
                Err(error) => {
                    listing = None;
                    shared.observer.watch_error(kind);
                    health.failed(kind, &error, state.is_some(), &shared);
                }
            }
        }
        if changed && let Some(state) = &state {
            shared.inventory.rcu(|inventory| {
                let mut next = Inventory::clone(inventory);
                K::publish(state, &mut next);
                next
            });
            shared.observer.objects(kind, K::count(state));
        }
    }
}

/// The API error behind a watcher error, if any.
fn api_error(error: &watcher::Error) -> Option<&kube::Error> {
    match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => Some(e),
        watcher::Error::WatchError(_) | watcher::Error::NoResourceVersion => None,
    }
}

/// What is known to be wrong with a watch, so that each trouble is logged once.
#[derive(Debug, Default)]
struct Health {
    /// Forbidden or not served, as last reported (until the kind lists).
    unavailable: Option<Unavailable>,
    /// Failing for a passing reason (the API server away, a dropped connection) since the
    /// last event that worked.
    failing: bool,
}

impl Health {
    /// An event arrived: a passing failure is over.
    fn working(&mut self, kind: Kind) {
        if std::mem::take(&mut self.failing) {
            tracing::info!(kind = kind.as_str(), "cluster watch resumed");
        }
    }

    /// Logs a failed list or watch once per trouble. A kind that never listed and is
    /// forbidden or not served is marked unavailable, so that readiness does not wait for
    /// it; a passing failure of such a kind changes nothing worth a line. The backoff
    /// retries either way.
    fn failed(&mut self, kind: Kind, error: &watcher::Error, synced: bool, shared: &Shared) {
        match api_error(error).and_then(Unavailable::of) {
            Some(why) if synced => {
                if !std::mem::replace(&mut self.failing, true) {
                    tracing::warn!(
                        kind = kind.as_str(),
                        reason = why.as_str(),
                        error = %error,
                        "cluster watch failing: its rules keep using the last state"
                    );
                }
            }
            Some(why) => {
                if self.unavailable.replace(why) != Some(why) {
                    tracing::warn!(
                        kind = kind.as_str(),
                        reason = why.as_str(),
                        rules = kind.rules().join(","),
                        "cluster watch unavailable: its rules are off"
                    );
                    shared.set(
                        kind,
                        match why {
                            Unavailable::Forbidden => Status::Forbidden,
                            Unavailable::NotServed => Status::NotServed,
                        },
                    );
                }
            }
            None if self.unavailable.is_some() => {
                tracing::debug!(kind = kind.as_str(), error = %error, "cluster watch retrying");
            }
            None => {
                if !std::mem::replace(&mut self.failing, true) {
                    tracing::warn!(
                        kind = kind.as_str(),
                        error = %error,
                        "{}",
                        if synced {
                            "cluster watch failing: its rules keep using the last state"
                        } else {
                            "cluster watch failing before its first list: its rules are off until it lists"
                        }
                    );
                }
            }
        }
    }
}
