//! Which DCE/RPC calls belong to the Exchange store (EMSMDB and AsyncEMSMDB): by their bind,
//! by their stub's shape, or by what the rest of the capture shows about their endpoint,
//! including evidence that comes after the call.
//!
//! * A call on a context bound to a store interface is a store call.
//! * A call of unknown interface whose stub is [`Shape::Decisive`] is one, and so is every
//!   later call on its context; its server endpoint is then known to serve the store.
//! * A call whose stub only fits ([`Shape::Consistent`], or [`Shape::Unreadable`] when sealed
//!   or cut) waits: when its context turns out to be a store context, it is one; when its
//!   connection closes with another context shown to be the store's, it belongs to that other
//!   interface; otherwise it waits, per server endpoint, for the end of the capture, and is a
//!   store call if anything showed that endpoint to serve the store (an endpoint-mapper
//!   answer, a bind on another connection, a decisive call on another connection).
//!
//! Waiting calls are bounded ([`CorrelateLimits::max_unclassified_calls`] over all
//! connections and endpoints); a cap that bites is a warning.
//!
//! [`CorrelateLimits::max_unclassified_calls`]: crate::correlate::CorrelateLimits

use super::WarningLog;
use crate::capture::Warning;
use crate::correlate::{Correlator, StoreCall};
use crate::dcerpc::interfaces::{ASYNC_EMSMDB_UUID, EMSMDB_UUID};
use crate::dcerpc::RpcCall;
use crate::emsmdb::{recognise_request, NdrFormat, RequestStub, Shape, StoreInterface};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

/// Most server endpoints known to serve the store.
const MAX_STORE_ENDPOINTS: usize = 4096;

/// What a call is, as far as its own connection can tell now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Identified {
    /// A store call; `inferred` when its bind was not captured.
    Store {
        interface: StoreInterface,
        inferred: bool,
    },
    /// It fits a call of `interface` but does not settle it: it waits for more evidence.
    Later(StoreInterface),
    /// Not a store call.
    Other,
}

/// A call waiting for evidence about its context or endpoint.
#[derive(Debug)]
struct Waiting {
    context_id: u16,
    call: StoreCall,
}

/// What one connection showed of the store.
#[derive(Debug, Default)]
pub(super) struct ConnStore {
    /// Contexts recognised as store contexts by a decisive call.
    inferred: HashMap<u16, StoreInterface>,
    /// Some context of this connection is a store context, bound or recognised.
    has_store_context: bool,
    /// Calls waiting for evidence.
    waiting: Vec<Waiting>,
}

/// Counters of the identification stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct IdentifyStats {
    /// Store contexts recognised without their bind.
    pub inferred_contexts: u64,
    /// Calls of unknown interface that waited for evidence and turned out to be store calls.
    pub confirmed_later: u64,
    /// Calls that fit a store call but sat beside another store context on their connection
    /// (so belong to another interface), or went to an endpoint nothing showed to serve the
    /// store: not counted as store calls.
    pub unconfirmed: u64,
    /// Calls that could not wait because [`Identifier`]'s cap was reached.
    pub dropped_at_cap: u64,
}

/// The identification state of one input.
#[derive(Debug)]
pub(super) struct Identifier {
    /// Server endpoints shown to serve the store.
    endpoints: HashSet<SocketAddr>,
    /// Calls of closed connections, by server endpoint, waiting for endpoint evidence.
    unresolved: HashMap<SocketAddr, Vec<StoreCall>>,
    /// Calls waiting, on connections and endpoints together.
    waiting: usize,
    cap: usize,
    warned: bool,
    pub(super) stats: IdentifyStats,
}

impl Identifier {
    pub(super) fn new(cap: usize) -> Self {
        Identifier {
            endpoints: HashSet::new(),
            unresolved: HashMap::new(),
            waiting: 0,
            cap,
            warned: false,
            stats: IdentifyStats::default(),
        }
    }

    /// `endpoint` serves the store (an endpoint-mapper answer, an accepted bind, a decisive
    /// call).
    pub(super) fn learn_endpoint(&mut self, endpoint: SocketAddr) {
        if self.endpoints.len() < MAX_STORE_ENDPOINTS {
            self.endpoints.insert(endpoint);
        }
    }

    /// What `call`, made to `server` on the connection whose state is `conn`, is. A decisive
    /// call also releases the calls that waited on its context to `correlator`.
    pub(super) fn identify(
        &mut self,
        conn: &mut ConnStore,
        call: &RpcCall,
        server: SocketAddr,
        format: NdrFormat,
        correlator: &mut Correlator,
    ) -> Identified {
        match call.interface {
            Some(i) if i.uuid == EMSMDB_UUID && i.version.0 == 0 => {
                conn.has_store_context = true;
                return Identified::Store {
                    interface: StoreInterface::Emsmdb,
                    inferred: false,
                };
            }
            Some(i) if i.uuid == ASYNC_EMSMDB_UUID => {
                conn.has_store_context = true;
                return Identified::Store {
                    interface: StoreInterface::AsyncEmsmdb,
                    inferred: false,
                };
            }
            Some(_) => return Identified::Other,
            None => {}
        }
        if let Some(&interface) = conn.inferred.get(&call.context_id) {
            return Identified::Store {
                interface,
                inferred: true,
            };
        }
        let stub = RequestStub {
            bytes: call.request.complete_bytes(),
            len: call.request.len,
            format,
        };
        match recognise_request(call.opnum, stub) {
            None => Identified::Other,
            Some((interface, Shape::Decisive)) => {
                conn.inferred.insert(call.context_id, interface);
                conn.has_store_context = true;
                self.stats.inferred_contexts += 1;
                self.learn_endpoint(server);
                self.release_context(conn, call.context_id, correlator);
                Identified::Store {
                    interface,
                    inferred: true,
                }
            }
            Some((interface, _)) => Identified::Later(interface),
        }
    }

    /// Keeps `call` (on context `context_id` of `conn`) until evidence decides it, within
    /// the cap.
    pub(super) fn wait(
        &mut self,
        conn: &mut ConnStore,
        context_id: u16,
        call: StoreCall,
        warnings: &mut WarningLog,
    ) {
        if self.waiting >= self.cap {
            self.stats.dropped_at_cap += 1;
            if !self.warned {
                self.warned = true;
                warnings.push(
                    Warning::new(
                        "store_identification_cap",
                        format!(
                            "more than {} calls of unknown interface waited for evidence that \
                             they are Exchange store calls; later ones are not counted",
                            self.cap
                        ),
                    )
                    .at_frame(call.request_frame),
                );
            }
            return;
        }
        self.waiting += 1;
        conn.waiting.push(Waiting { context_id, call });
    }

    /// Releases the calls that waited on a context now known to be a store context.
    fn release_context(
        &mut self,
        conn: &mut ConnStore,
        context_id: u16,
        correlator: &mut Correlator,
    ) {
        let (now, still): (Vec<Waiting>, Vec<Waiting>) = std::mem::take(&mut conn.waiting)
            .into_iter()
            .partition(|w| w.context_id == context_id);
        conn.waiting = still;
        for w in now {
            self.confirm(w.call, correlator);
        }
    }

    fn confirm(&mut self, call: StoreCall, correlator: &mut Correlator) {
        self.waiting -= 1;
        self.stats.confirmed_later += 1;
        correlator.store_call(call);
    }

    /// A connection closed: its waiting calls are settled by what the connection showed, or
    /// wait for endpoint evidence.
    pub(super) fn connection_closed(&mut self, conn: ConnStore) {
        // Calls on a context a decisive call settled were released then.
        for w in conn.waiting {
            if conn.has_store_context {
                self.waiting -= 1;
                self.stats.unconfirmed += 1;
            } else {
                self.unresolved
                    .entry(w.call.server)
                    .or_default()
                    .push(w.call);
            }
        }
    }

    /// The end of the input: waiting calls to endpoints shown to serve the store are store
    /// calls; the others are not.
    pub(super) fn finish(&mut self, correlator: &mut Correlator) {
        for (endpoint, calls) in std::mem::take(&mut self.unresolved) {
            let known = self.endpoints.contains(&endpoint);
            for call in calls {
                if known {
                    self.confirm(call, correlator);
                } else {
                    self.waiting -= 1;
                    self.stats.unconfirmed += 1;
                }
            }
        }
    }
}
