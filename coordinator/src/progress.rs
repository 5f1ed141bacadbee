//! Routes the progress queue to the experiment-dates a coordinator is driving.
//!
//! One consumer reads every notice and hands it to the date it belongs to; notices of dates
//! nobody is driving (a run that ended, or a coordinator that restarted) are acknowledged and
//! dropped. A coordinator owns the progress queue of its fleet: run one per queue prefix.

use jetstream_proto::fleet::{DateGroup, ToCoordinator};
use jetstream_proto::queue::{ignore_stale, MessageQueue};
use jetstream_proto::task::Envelope;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::mpsc;

type Routes = Mutex<HashMap<DateGroup, mpsc::UnboundedSender<ToCoordinator>>>;

/// The consumer of a progress queue and its subscribers.
pub struct ProgressRouter {
    routes: Arc<Routes>,
}

impl ProgressRouter {
    /// Starts consuming `queue` (needs a tokio runtime). The consumer stops when the queue
    /// closes or fails; subscribers then see their stream end.
    pub fn spawn(transport: Arc<dyn MessageQueue>, queue: String) -> Arc<ProgressRouter> {
        let routes: Arc<Routes> = Arc::default();
        let weak = Arc::downgrade(&routes);
        tokio::spawn(async move {
            if let Err(e) = consume(transport, &queue, weak.clone()).await {
                tracing::error!(queue = %queue, error = %e, "progress consumer stopped");
            }
            // Ending every subscription wakes the dates waiting on it with an error.
            if let Some(routes) = weak.upgrade() {
                routes.lock().unwrap_or_else(|e| e.into_inner()).clear();
            }
        });
        Arc::new(ProgressRouter { routes })
    }

    /// Notices of `group` from now on (subscribe before publishing its tasks).
    pub fn subscribe(&self, group: DateGroup) -> Subscription {
        let (tx, rx) = mpsc::unbounded_channel();
        self.routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(group.clone(), tx);
        Subscription {
            group,
            rx,
            routes: Arc::downgrade(&self.routes),
        }
    }
}

async fn consume(
    transport: Arc<dyn MessageQueue>,
    queue: &str,
    routes: Weak<Routes>,
) -> Result<(), jetstream_proto::queue::QueueError> {
    while let Some(delivery) = transport.receive(queue).await? {
        let Some(routes) = routes.upgrade() else {
            // The coordinator is gone: leave the notice for its successor.
            ignore_stale(transport.nack(delivery, true).await)?;
            return Ok(());
        };
        match Envelope::<ToCoordinator>::decode(&delivery.payload) {
            Ok(notice) => {
                let group = match &notice {
                    ToCoordinator::Progress(p) => DateGroup::of(&p.run_id, &p.key),
                    ToCoordinator::Written(w) => w.group.clone(),
                };
                let sender = routes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&group)
                    .cloned();
                match sender {
                    Some(tx) => {
                        let _ = tx.send(notice);
                    }
                    None => tracing::debug!(%group, "dropping a notice of a date not driven here"),
                }
                ignore_stale(transport.ack(delivery).await)?;
            }
            Err(e) => {
                tracing::error!(error = %e, "dead-lettering an undecodable progress notice");
                ignore_stale(transport.nack(delivery, false).await)?;
            }
        }
    }
    Ok(())
}

/// The notices of one experiment-date; unsubscribes when dropped.
pub struct Subscription {
    group: DateGroup,
    rx: mpsc::UnboundedReceiver<ToCoordinator>,
    routes: Weak<Routes>,
}

impl Subscription {
    /// The next notice, or None once the progress consumer stopped.
    pub async fn next(&mut self) -> Option<ToCoordinator> {
        self.rx.recv().await
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(routes) = self.routes.upgrade() {
            routes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&self.group);
        }
    }
}
