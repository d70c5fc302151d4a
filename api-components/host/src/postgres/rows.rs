//! The `stream<row>` of `query-async`: rows go to the guest as tokio-postgres receives
//! them, and the outcome of the query goes to the `future<result<_, error>>` that
//! follows the stream.
//!
//! Buffering is bounded end to end: a row is taken from the row stream only when the
//! guest reads (at most as many as it asked for, and at most [`MAX_BATCH`]), and
//! tokio-postgres stops reading the socket while its small per-query channel is full.

use super::pool::PooledClient;
use super::statement::{Rows, decode_row, query_failed};
use super::wit::{Error, Row};
use futures::Stream;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::oneshot;
use wasmtime::StoreContextMut;
use wasmtime::component::{Destination, StreamProducer, StreamResult, VecBuffer};

/// Rows handed to the guest per read at most.
const MAX_BATCH: usize = 64;

/// Produces the rows of one query into a guest `stream<row>`.
pub struct RowProducer {
    /// The row `query` already read, handed out first.
    first: Option<tokio_postgres::Row>,
    /// The other rows; `None` when the query had no rows.
    rows: Option<Rows>,
    /// Keeps the connection out of the pool until the guest is done with the rows.
    _client: Arc<PooledClient>,
    /// Receives the outcome of the query; `None` once it was sent.
    outcome: Option<oneshot::Sender<Result<(), Error>>>,
}

impl RowProducer {
    /// Also returns where the outcome arrives: `Ok` at the end of the rows (or when the
    /// guest dropped the stream early), the error if the query failed midway.
    pub fn new(
        first: Option<tokio_postgres::Row>,
        rows: Option<Rows>,
        client: Arc<PooledClient>,
    ) -> (RowProducer, oneshot::Receiver<Result<(), Error>>) {
        let (tx, rx) = oneshot::channel();
        (
            RowProducer {
                first,
                rows,
                _client: client,
                outcome: Some(tx),
            },
            rx,
        )
    }

    fn finish(&mut self, outcome: Result<(), Error>) {
        if let Some(tx) = self.outcome.take() {
            // The guest may have dropped the future: nobody to tell, nothing to do.
            let _ = tx.send(outcome);
        }
    }
}

impl Drop for RowProducer {
    fn drop(&mut self) {
        self.finish(Ok(()));
    }
}

impl<D> StreamProducer<D> for RowProducer {
    type Item = Row;
    type Buffer = VecBuffer<Row>;

    fn poll_produce<'a>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut store: StoreContextMut<'a, D>,
        mut dst: Destination<'a, Self::Item, Self::Buffer>,
        finish: bool,
    ) -> Poll<wasmtime::Result<StreamResult>> {
        let this = self.get_mut();
        if this.outcome.is_none() {
            return Poll::Ready(Ok(StreamResult::Dropped));
        }
        let wanted = match dst.remaining(&mut store) {
            // A zero-length read asks whether rows are ready; say yes without taking
            // one (allowed: the next real read may then wait).
            Some(0) => return Poll::Ready(Ok(StreamResult::Completed)),
            Some(n) => n.min(MAX_BATCH),
            None => MAX_BATCH,
        };
        let mut batch = Vec::new();
        let mut ended = false;
        while batch.len() < wanted {
            let next = match (this.first.take(), &mut this.rows) {
                (Some(row), _) => Poll::Ready(Some(Ok(row))),
                (None, Some(rows)) => rows.as_mut().poll_next(cx),
                (None, None) => Poll::Ready(None),
            };
            match next {
                Poll::Ready(Some(Ok(row))) => match decode_row(&row) {
                    Ok(values) => batch.push(values),
                    Err(e) => {
                        this.finish(Err(e));
                        ended = true;
                        break;
                    }
                },
                Poll::Ready(Some(Err(e))) => {
                    this.finish(Err(query_failed(e)));
                    ended = true;
                    break;
                }
                Poll::Ready(None) => {
                    this.finish(Ok(()));
                    ended = true;
                    break;
                }
                Poll::Pending => break,
            }
        }
        let produced = !batch.is_empty();
        if produced {
            dst.set_buffer(batch.into());
        }
        Poll::Ready(Ok(if ended {
            StreamResult::Dropped
        } else if produced {
            StreamResult::Completed
        } else if finish {
            StreamResult::Cancelled
        } else {
            return Poll::Pending;
        }))
    }
}
