//! Which DCE/RPC calls belong to the Exchange store (EMSMDB and AsyncEMSMDB): by their bind,
//! by their stub's shape, or by what the rest of the capture shows about their endpoint,
//! including evidence that comes after the call.
//!
//! * A call on a context bound to a store interface is a store call.
//! * A call of unknown interface whose stub is [`Shape::Decisive`] is one, and so is every
//!   later call on its context; its server endpoint is then known to serve the store.
//! * A call of unknown interface whose stub fits a store call, made to an endpoint already
//!   known to serve the store on a connection with no store context yet, is one too, and so
//!   is every later call on its context (so a long sealed capture does not hold its calls
//!   until the end).
//! * A call whose stub only fits ([`Shape::Consistent`], or [`Shape::Unreadable`] when sealed
//!   or cut) waits: when its context turns out to be a store context, it is one; when its
//!   connection closes with another context shown to be the store's, it belongs to that other
//!   interface; otherwise it waits, per server endpoint, for the end of the capture, and is a
//!   store call if anything showed that endpoint to serve the store (an endpoint-mapper
//!   answer, a bind on another connection, a decisive call on another connection), or if
//!   the server sent its client a notification-sized datagram and the client's calls there
//!   include one of the `EcDoRpc` family: only the Exchange store sends an RPC client UDP
//!   datagrams of 1–16 bytes (MS-OXCNOTIF 3.1.5.4; DNS, NetBIOS, Kerberos, CLDAP and NTP
//!   messages are all longer), so that pairs a sealed mid-session Outlook 2007/2010 client,
//!   which no shape can tell, with its store.
//!
//! Waiting calls are kept as compact summaries per client and server endpoint (the ends
//! once, about 48 bytes a call), bounded by [`CorrelateLimits::max_unclassified_calls`] over
//! all connections and endpoints; a cap that bites is a warning.
//!
//! [`CorrelateLimits::max_unclassified_calls`]: crate::correlate::CorrelateLimits

use super::WarningLog;
use crate::capture::Warning;
use crate::correlate::{CallDetail, Correlator, StoreCall};
use crate::dcerpc::interfaces::{ASYNC_EMSMDB_UUID, EMSMDB_UUID};
use crate::dcerpc::RpcCall;
use crate::emsmdb::{self, recognise_request, NdrFormat, RequestStub, Shape, StoreInterface};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};

/// Most server endpoints known to serve the store.
const MAX_STORE_ENDPOINTS: usize = 4096;
/// Most (server, client) pairs remembered for a notification-sized datagram.
const MAX_NOTIFIED: usize = 16_384;
/// Most contexts a connection keeps as recognised store contexts: as many as a DCE/RPC
/// association keeps presentation contexts (`RpcLimits::max_contexts`).
const MAX_INFERRED_CONTEXTS: usize = 256;

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

/// A call waiting for evidence about its context or endpoint: what the correlator needs of
/// it, without the endpoints, which its connection (and then its group) keeps once.
#[derive(Debug)]
struct Waiting {
    context_id: u16,
    opnum: u16,
    request_frame: u64,
    request_ts_ns: i64,
    response_ts_ns: Option<i64>,
    /// A registration, logon or unregistration (rare; boxed so the common call stays small).
    detail: Option<Box<CallDetail>>,
}

impl Waiting {
    fn new(context_id: u16, call: StoreCall) -> Waiting {
        Waiting {
            context_id,
            opnum: call.opnum,
            request_frame: call.request_frame,
            request_ts_ns: call.request_ts_ns,
            response_ts_ns: call.response_ts_ns,
            detail: (call.detail != CallDetail::Other).then(|| Box::new(call.detail)),
        }
    }

    /// The store call it is, made from `client` to `server` (recognised without its bind).
    fn into_call(self, (client, server): Ends) -> StoreCall {
        StoreCall {
            client,
            server,
            inferred: true,
            opnum: self.opnum,
            request_frame: self.request_frame,
            request_ts_ns: self.request_ts_ns,
            response_ts_ns: self.response_ts_ns,
            detail: self.detail.map_or(CallDetail::Other, |d| *d),
        }
    }
}

/// A connection's client and server ends.
type Ends = (SocketAddr, SocketAddr);

/// What one connection showed of the store.
#[derive(Debug, Default)]
pub(super) struct ConnStore {
    /// Contexts recognised as store contexts by a decisive call.
    inferred: HashMap<u16, StoreInterface>,
    /// Some context of this connection is a store context, bound or recognised.
    has_store_context: bool,
    /// The connection's ends, once a call waits.
    ends: Option<Ends>,
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
    /// Server endpoints taken for the store because the server sent the client of calls
    /// there a notification-sized datagram.
    pub anchored_by_datagrams: u64,
    /// Store endpoints not remembered because [`MAX_STORE_ENDPOINTS`] were known.
    pub endpoints_not_kept: u64,
}

/// The identification state of one input.
#[derive(Debug)]
pub(super) struct Identifier {
    /// Server endpoints shown to serve the store.
    endpoints: HashSet<SocketAddr>,
    /// Calls of closed connections waiting for endpoint evidence, per client and server
    /// endpoint.
    unresolved: HashMap<Ends, Vec<Waiting>>,
    /// (server IP, client IP) pairs seen with a notification-sized datagram.
    notified: HashSet<(IpAddr, IpAddr)>,
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
            notified: HashSet::new(),
            waiting: 0,
            cap,
            warned: false,
            stats: IdentifyStats::default(),
        }
    }

    /// `endpoint` serves the store (an endpoint-mapper answer, an accepted bind, a decisive
    /// call); true when it was not known before.
    pub(super) fn learn_endpoint(&mut self, endpoint: SocketAddr) -> bool {
        if self.endpoints.contains(&endpoint) {
            return false;
        }
        if self.endpoints.len() >= MAX_STORE_ENDPOINTS {
            self.stats.endpoints_not_kept += 1;
            return false;
        }
        self.endpoints.insert(endpoint)
    }

    /// `server` sent `client` a UDP datagram of notification size.
    pub(super) fn notification_sized(&mut self, server: IpAddr, client: IpAddr) {
        if self.notified.len() < MAX_NOTIFIED {
            self.notified.insert((server, client));
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
            len_exact: call.request.len_is_exact(),
            format,
        };
        match recognise_request(call.opnum, stub) {
            None => Identified::Other,
            Some((interface, shape))
                if shape == Shape::Decisive
                    || (self.endpoints.contains(&server) && !conn.has_store_context) =>
            {
                if conn.inferred.len() < MAX_INFERRED_CONTEXTS {
                    conn.inferred.insert(call.context_id, interface);
                }
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
        conn.ends = Some((call.client, call.server));
        conn.waiting.push(Waiting::new(context_id, call));
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
        if let Some(ends) = conn.ends {
            for w in now {
                self.confirm(w.into_call(ends), correlator);
            }
        }
    }

    fn confirm(&mut self, call: StoreCall, correlator: &mut Correlator) {
        self.waiting = self.waiting.saturating_sub(1);
        self.stats.confirmed_later += 1;
        correlator.store_call(call);
    }

    /// A connection closed: its waiting calls are settled by what the connection showed, or
    /// wait for endpoint evidence.
    pub(super) fn connection_closed(&mut self, conn: ConnStore) {
        // Calls on a context a decisive call settled were released then.
        let Some(ends) = conn.ends.filter(|_| !conn.waiting.is_empty()) else {
            return;
        };
        if conn.has_store_context {
            let n = conn.waiting.len();
            self.waiting = self.waiting.saturating_sub(n);
            self.stats.unconfirmed += n as u64;
        } else {
            self.unresolved
                .entry(ends)
                .or_default()
                .extend(conn.waiting);
        }
    }

    /// The end of the input: waiting calls to endpoints shown to serve the store are store
    /// calls; the others are not.
    pub(super) fn finish(&mut self, correlator: &mut Correlator) {
        // In capture order, so that caps bite on the same calls in every run.
        let mut groups: Vec<(Ends, Vec<Waiting>)> =
            std::mem::take(&mut self.unresolved).into_iter().collect();
        groups.sort_by_key(|(ends, calls)| (calls.first().map(|w| w.request_frame), *ends));
        for ((client, server), calls) in &groups {
            if self.notified.contains(&(server.ip(), client.ip()))
                && calls.iter().any(|w| emsmdb::is_rop_call(w.opnum))
                && self.learn_endpoint(*server)
            {
                self.stats.anchored_by_datagrams += 1;
            }
        }
        for (ends, calls) in groups {
            let known = self.endpoints.contains(&ends.1);
            for w in calls {
                if known {
                    self.confirm(w.into_call(ends), correlator);
                } else {
                    self.waiting = self.waiting.saturating_sub(1);
                    self.stats.unconfirmed += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::{CorrelateLimits, StoreCall};
    use crate::dcerpc::Stub;
    use crate::emsmdb::{self, rop};
    use crate::flow::Direction;
    use crate::vantage::HostTable;

    const F: NdrFormat = NdrFormat::NDR20_LE;
    const HANDLE: [u8; 20] = [0, 0, 0, 0, 9, 8, 7, 6, 5, 4, 3, 2, 1, 9, 8, 7, 6, 5, 4, 3];
    const SERVER: &str = "10.0.0.5:1032";

    fn call(frame: u64, context_id: u16, opnum: u16, stub: Vec<u8>) -> RpcCall {
        let mut request = Stub {
            bytes: Vec::new(),
            len: stub.len(),
            encrypted: false,
            truncated: false,
            little_endian: true,
            missing_fragment: false,
            cut_by_capture: false,
            fragments: 1,
        };
        request.bytes = stub;
        RpcCall {
            call_id: frame as u32,
            context_id,
            opnum,
            interface: None,
            object: None,
            request_direction: Direction::ToResponder,
            request_frame: frame,
            request_ts_ns: frame as i64 * 1_000_000_000,
            request,
            response_frame: None,
            response_ts_ns: None,
            response: None,
            fault_status: None,
            auth_type: None,
            auth_level: None,
            auth_not_captured: false,
        }
    }

    /// A decisive EcDoRpcExt2 and a disconnect that only fits.
    fn ext2(frame: u64, context_id: u16) -> RpcCall {
        let rops = rop::encode_rop_buffer(&[1, 2, 3], &[1]);
        call(
            frame,
            context_id,
            11,
            emsmdb::encode_rpc_ext2_request(F, &HANDLE, &rops),
        )
    }

    fn disconnect(frame: u64, context_id: u16) -> RpcCall {
        call(frame, context_id, 1, HANDLE.to_vec())
    }

    struct Run {
        id: Identifier,
        correlator: Correlator,
        warnings: WarningLog,
    }

    impl Run {
        fn new(cap: usize) -> Run {
            Run {
                id: Identifier::new(cap),
                correlator: Correlator::new(0, CorrelateLimits::default()),
                warnings: WarningLog::default(),
            }
        }

        /// Identifies `c` from 10.0.0.21 to `server`, handing store calls over or keeping
        /// them waiting as the engine does.
        fn feed(&mut self, conn: &mut ConnStore, c: &RpcCall, server: &str) -> Identified {
            let (client, server) = ("10.0.0.21:1070".parse().unwrap(), server.parse().unwrap());
            let fact = |inferred| StoreCall {
                client,
                server,
                inferred,
                opnum: c.opnum,
                request_frame: c.request_frame,
                request_ts_ns: c.request_ts_ns,
                response_ts_ns: None,
                detail: crate::correlate::CallDetail::Other,
            };
            let found = self.id.identify(conn, c, server, F, &mut self.correlator);
            match found {
                Identified::Store { inferred, .. } => self.correlator.store_call(fact(inferred)),
                Identified::Later(_) => {
                    self.id
                        .wait(conn, c.context_id, fact(true), &mut self.warnings)
                }
                Identified::Other => {}
            }
            found
        }

        /// Ends the input; the identification counters and the calls the session got.
        fn finish(mut self) -> (IdentifyStats, usize) {
            self.id.finish(&mut self.correlator);
            let sessions = self.correlator.finish(&[&HostTable::default()]).sessions;
            let calls = sessions.first().map_or(0, |s| s.polling.calls as usize);
            (self.id.stats, calls)
        }
    }

    #[test]
    fn a_decisive_call_releases_the_calls_that_waited_on_its_context() {
        let mut run = Run::new(100);
        let mut conn = ConnStore::default();
        assert_eq!(
            run.feed(&mut conn, &disconnect(1, 0), SERVER),
            Identified::Later(StoreInterface::Emsmdb)
        );
        assert!(matches!(
            run.feed(&mut conn, &ext2(2, 0), SERVER),
            Identified::Store { inferred: true, .. }
        ));
        // Later calls on the context are store calls at once, whatever their shape.
        assert!(matches!(
            run.feed(&mut conn, &call(3, 0, 6, vec![]), SERVER),
            Identified::Store { .. }
        ));
        assert_eq!(run.id.stats.confirmed_later, 1);
        assert_eq!(run.id.stats.inferred_contexts, 1);
        assert!(run.id.endpoints.contains(&SERVER.parse().unwrap()));
    }

    #[test]
    fn beside_a_store_context_a_call_that_only_fits_is_another_interfaces() {
        let mut run = Run::new(100);
        let mut conn = ConnStore::default();
        run.feed(&mut conn, &ext2(1, 1), SERVER);
        run.feed(&mut conn, &disconnect(2, 0), SERVER);
        run.id.connection_closed(conn);
        let (stats, rop_calls) = run.finish();
        assert_eq!((stats.unconfirmed, stats.confirmed_later), (1, 0));
        assert_eq!(rop_calls, 1, "the EcDoRpcExt2 only");
    }

    #[test]
    fn on_a_known_store_endpoint_a_call_that_fits_settles_at_once() {
        let mut run = Run::new(1);
        run.id.learn_endpoint(SERVER.parse().unwrap());
        let mut conn = ConnStore::default();
        // Nothing waits, so a cap of one call is never reached.
        for frame in 1..=3 {
            let found = run.feed(&mut conn, &disconnect(frame, 0), SERVER);
            assert!(matches!(found, Identified::Store { inferred: true, .. }));
        }
        run.id.connection_closed(conn);
        let (stats, _) = run.finish();
        assert_eq!((stats.dropped_at_cap, stats.confirmed_later), (0, 0));
    }

    #[test]
    fn endpoint_evidence_after_the_call_confirms_it() {
        for learnt in [true, false] {
            let mut run = Run::new(100);
            let mut conn = ConnStore::default();
            run.feed(&mut conn, &disconnect(1, 0), SERVER);
            run.id.connection_closed(conn);
            if learnt {
                // An endpoint-mapper answer later in the capture.
                run.id.learn_endpoint(SERVER.parse().unwrap());
            }
            let (stats, _) = run.finish();
            assert_eq!(stats.confirmed_later, u64::from(learnt));
            assert_eq!(stats.unconfirmed, u64::from(!learnt));
        }
    }

    /// Sealed calls nothing else identifies: the server's notification-sized datagram to the
    /// client anchors them, when they include an EcDoRpc-family call.
    #[test]
    fn a_datagram_from_the_server_anchors_sealed_rop_calls() {
        let sealed = |frame, opnum| {
            let mut c = call(frame, 0, opnum, vec![0; 120]);
            c.request.bytes.clear();
            c.request.encrypted = true;
            c
        };
        for (notified, opnum, confirmed) in [(true, 11, 1), (false, 11, 0), (true, 1, 0)] {
            let mut run = Run::new(100);
            let mut conn = ConnStore::default();
            let c = if opnum == 1 {
                disconnect(1, 0)
            } else {
                sealed(1, opnum)
            };
            assert!(matches!(
                run.feed(&mut conn, &c, SERVER),
                Identified::Later(_)
            ));
            run.id.connection_closed(conn);
            if notified {
                let (server, client) = ("10.0.0.5".parse().unwrap(), "10.0.0.21".parse().unwrap());
                run.id.notification_sized(server, client);
            }
            let (stats, _) = run.finish();
            assert_eq!(stats.confirmed_later, confirmed, "{notified} {opnum}");
            assert_eq!(stats.anchored_by_datagrams, confirmed);
        }
    }

    #[test]
    fn foreign_shapes_never_wait_and_the_waiting_list_is_bounded() {
        let mut run = Run::new(2);
        let mut conn = ConnStore::default();
        // An opnum-2 call that is not an EcDoRpc: not a store call at all.
        let lsa = call(
            1,
            0,
            2,
            [&HANDLE[..], &[0, 0, 0, 0, 0, 0x10, 0, 0]].concat(),
        );
        assert_eq!(run.feed(&mut conn, &lsa, SERVER), Identified::Other);
        for frame in 2..6 {
            run.feed(&mut conn, &disconnect(frame, 0), SERVER);
        }
        assert_eq!(conn.waiting.len(), 2);
        assert_eq!(run.id.stats.dropped_at_cap, 2);
        let codes: Vec<_> = run
            .warnings
            .clone()
            .into_vec()
            .iter()
            .map(|w| w.code)
            .collect();
        assert_eq!(codes, ["store_identification_cap"]);
        run.id.connection_closed(conn);
        run.id.learn_endpoint(SERVER.parse().unwrap());
        let (stats, _) = run.finish();
        assert_eq!(stats.confirmed_later, 2);
    }
}
