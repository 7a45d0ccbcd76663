//! Outlook and Exchange as the scenarios need them: the endpoint-mapper lookup, an EMSMDB
//! connection with bind, logon, push registration and polls, and the server's notification
//! datagrams. Every call returns the frames a reader must cite (the frame completing the
//! request and the one completing the response).

use crate::net::{Host, Net, Segmenting, Side, TcpConn, MS};
use crate::rpc::{self, Auth, Context, PduWriter, EMSMDB, EPM, NDR20, NSPI};
use pushtrace_core::emsmdb::{self, rop, CallbackAddress, NdrFormat};
use std::net::{IpAddr, SocketAddr};
use uuid::Uuid;

/// The TCP port the server's endpoint mapper listens on.
pub const EPM_PORT: u16 = 135;

/// The frames of one request/response pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallFrames {
    /// Frame completing the request.
    pub request: u64,
    /// Frame completing the response.
    pub response: u64,
}

/// How an EMSMDB connection is set up.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Client TCP port.
    pub client_port: u16,
    /// The interface bound: EMSMDB 0.81, or AsyncEMSMDB 0.1 for the async wait connection.
    pub interface: (Uuid, (u16, u16)),
    /// Authentication on calls (None = no auth trailer).
    pub auth: Option<Auth>,
    /// Bind NSPI on context 0 first, then add EMSMDB on context 1 with alter_context.
    pub nspi_first: bool,
    /// Largest stub per request fragment.
    pub max_frag_stub: usize,
    /// How requests are cut into TCP segments.
    pub request_segmenting: Segmenting,
    /// How responses are cut into TCP segments.
    pub response_segmenting: Segmenting,
    /// Outlook 2000/2003 against Exchange 5.5–2003: `EcDoConnect` (opnum 0) and `EcDoRpc`
    /// (opnum 2) instead of `EcDoConnectEx` and `EcDoRpcExt2`.
    pub legacy: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            client_port: 1071,
            interface: (EMSMDB, (0, 81)),
            auth: None,
            nspi_first: false,
            max_frag_stub: 4280,
            request_segmenting: Segmenting::default(),
            response_segmenting: Segmenting::default(),
            legacy: false,
        }
    }
}

/// One Outlook EMSMDB connection to an Exchange server.
#[derive(Debug)]
pub struct EmsmdbConnection {
    /// The client host.
    pub client: Host,
    /// The server host.
    pub server: Host,
    conn: TcpConn,
    pdu: PduWriter,
    ctx: u16,
    next_call_id: u32,
    handle: [u8; 20],
    opts: ConnectOptions,
}

/// Looks up the EMSMDB port through the endpoint mapper on TCP 135 and closes the connection.
pub fn epm_lookup(
    net: &mut Net,
    client: Host,
    client_port: u16,
    server: Host,
    emsmdb_port: u16,
) -> CallFrames {
    let mut conn = net.tcp_connect(client, client_port, server, EPM_PORT);
    let pdu = PduWriter::new(true, None);
    let ctx = Context::ndr20(0, EPM, (3, 0));
    let ack = pdu.bind_ack(1, "135", &[Some(NDR20)], false);
    bind_exchange(net, &mut conn, &pdu.bind(1, &[ctx], false), &ack);
    let ip = match server.ip {
        IpAddr::V4(v4) => v4.octets(),
        IpAddr::V6(_) => [0; 4],
    };
    let asked = rpc::tcp_tower(EMSMDB, (0, 81), 0, [0; 4]);
    let answer = rpc::tcp_tower(EMSMDB, (0, 81), emsmdb_port, ip);
    net.wait(MS);
    let map_request = pdu.request(2, 0, 3, &rpc::ept_map_request(&asked), 4280, &mut net.rng);
    let request = send_all(net, &mut conn, Side::Client, map_request);
    net.wait(2 * MS);
    let map_response = pdu.response(2, 0, &rpc::ept_map_response(&answer), 4280, &mut net.rng);
    let response = send_all(net, &mut conn, Side::Server, map_response);
    net.wait(MS);
    net.tcp_close(&mut conn);
    CallFrames { request, response }
}

/// The client sends `request` (a bind or alter_context), the server answers `answer` a
/// millisecond later; returns the answer's frame.
fn bind_exchange(net: &mut Net, conn: &mut TcpConn, request: &[u8], answer: &[u8]) -> u64 {
    net.wait(MS);
    net.tcp_send(conn, Side::Client, request, &Segmenting::default());
    net.wait(MS);
    net.tcp_send(conn, Side::Server, answer, &Segmenting::default())
}

fn send_all(net: &mut Net, conn: &mut TcpConn, side: Side, pdus: Vec<Vec<u8>>) -> u64 {
    send_segmented(net, conn, side, pdus, &Segmenting::default())
}

fn send_segmented(
    net: &mut Net,
    conn: &mut TcpConn,
    side: Side,
    pdus: Vec<Vec<u8>>,
    seg: &Segmenting,
) -> u64 {
    let message: Vec<u8> = pdus.concat();
    net.tcp_send(conn, side, &message, seg)
}

impl EmsmdbConnection {
    /// Connects and binds EMSMDB (optionally after NSPI); returns the connection and the
    /// frame of the bind_ack that accepts EMSMDB.
    pub fn open(
        net: &mut Net,
        client: Host,
        server: Host,
        port: u16,
        opts: ConnectOptions,
    ) -> (EmsmdbConnection, u64) {
        let mut conn = net.tcp_connect(client, opts.client_port, server, port);
        let pdu = PduWriter::new(true, opts.auth);
        let emsmdb = |id| Context::ndr20(id, opts.interface.0, opts.interface.1);
        let sec_addr = port.to_string();
        let ack = |call_id, addr: &str, alter| pdu.bind_ack(call_id, addr, &[Some(NDR20)], alter);
        let ack_frame = if opts.nspi_first {
            let nspi = Context::ndr20(0, NSPI, (56, 0));
            bind_exchange(
                net,
                &mut conn,
                &pdu.bind(1, &[nspi], false),
                &ack(1, &sec_addr, false),
            );
            bind_exchange(
                net,
                &mut conn,
                &pdu.bind(2, &[emsmdb(1)], true),
                &ack(2, "", true),
            )
        } else {
            bind_exchange(
                net,
                &mut conn,
                &pdu.bind(1, &[emsmdb(0)], false),
                &ack(1, &sec_addr, false),
            )
        };
        let ctx = u16::from(opts.nspi_first);
        let mut handle = [0u8; 20];
        handle[4..].copy_from_slice(&net.rng.bytes(16));
        let c = EmsmdbConnection {
            client,
            server,
            conn,
            pdu,
            ctx,
            next_call_id: 3,
            handle,
            opts,
        };
        (c, ack_frame)
    }

    /// Tries to bind EMSMDB and is refused with a bind_nak (`reason`); returns the nak's frame.
    pub fn bind_refused(
        net: &mut Net,
        client: Host,
        server: Host,
        port: u16,
        client_port: u16,
        reason: u16,
    ) -> u64 {
        let mut conn = net.tcp_connect(client, client_port, server, port);
        let pdu = PduWriter::new(true, None);
        let emsmdb = Context::ndr20(0, EMSMDB, (0, 81));
        let nak = bind_exchange(
            net,
            &mut conn,
            &pdu.bind(1, &[emsmdb], false),
            &pdu.bind_nak(1, reason),
        );
        net.wait(MS);
        net.tcp_close(&mut conn);
        nak
    }

    /// The client's endpoint on this connection.
    pub fn client_addr(&self) -> SocketAddr {
        self.client.at(self.opts.client_port)
    }

    /// Makes one call on `ctx` with `opnum`; the server answers after `server_ms`.
    pub fn call_on(
        &mut self,
        net: &mut Net,
        ctx: u16,
        opnum: u16,
        request: &[u8],
        response: &[u8],
        server_ms: i64,
    ) -> CallFrames {
        let call_id = self.next_call_id;
        self.next_call_id += 1;
        let req = self.pdu.request(
            call_id,
            ctx,
            opnum,
            request,
            self.opts.max_frag_stub,
            &mut net.rng,
        );
        let request_frame = send_segmented(
            net,
            &mut self.conn,
            Side::Client,
            req,
            &self.opts.request_segmenting,
        );
        net.wait(server_ms * MS);
        let resp = self.pdu.response(
            call_id,
            ctx,
            response,
            self.opts.max_frag_stub,
            &mut net.rng,
        );
        let response_frame = send_segmented(
            net,
            &mut self.conn,
            Side::Server,
            resp,
            &self.opts.response_segmenting,
        );
        CallFrames {
            request: request_frame,
            response: response_frame,
        }
    }

    fn call(
        &mut self,
        net: &mut Net,
        opnum: u16,
        request: &[u8],
        response: &[u8],
        server_ms: i64,
    ) -> CallFrames {
        self.call_on(net, self.ctx, opnum, request, response, server_ms)
    }

    /// `EcDoConnectEx` (`EcDoConnect` for a legacy client) for `user_dn`; the server asks
    /// for polls every `poll_ms`.
    pub fn logon(&mut self, net: &mut Net, user_dn: &str, poll_ms: u32) -> CallFrames {
        let f = NdrFormat::NDR20_LE;
        let req = emsmdb::encode_connect_request(f, user_dn);
        let resp = emsmdb::encode_connect_response(f, &self.handle, poll_ms, 0);
        let opnum = if self.opts.legacy {
            emsmdb::OP_DO_CONNECT
        } else {
            emsmdb::OP_DO_CONNECT_EX
        };
        net.wait(2 * MS);
        self.call(net, opnum, &req, &resp, 12)
    }

    /// The request stub of `EcRRegisterPushNotification`, padded with junk as Windows does.
    fn register_stub(&self, callback: SocketAddr, context: &[u8]) -> Vec<u8> {
        let callback = CallbackAddress::encode_windows(callback);
        emsmdb::encode_register_push_request(
            NdrFormat::NDR20_LE,
            &self.handle,
            context,
            &callback,
            0xa5,
        )
    }

    /// `EcRRegisterPushNotification` for `callback` and `context`; the server answers `status`.
    pub fn register(
        &mut self,
        net: &mut Net,
        callback: SocketAddr,
        context: &[u8],
        status: u32,
    ) -> CallFrames {
        let req = self.register_stub(callback, context);
        let resp =
            emsmdb::encode_register_push_response(NdrFormat::NDR20_LE, &self.handle, 0, status);
        net.wait(3 * MS);
        self.call(net, emsmdb::OP_REGISTER_PUSH, &req, &resp, 2)
    }

    /// `EcRRegisterPushNotification` answered by a DCE/RPC fault with `status` (what a
    /// server that does not implement opnum 4 sends, e.g. 0x1c010002 nca_s_op_rng_error).
    pub fn register_faulted(
        &mut self,
        net: &mut Net,
        callback: SocketAddr,
        context: &[u8],
        status: u32,
    ) -> CallFrames {
        let req = self.register_stub(callback, context);
        let call_id = self.next_call_id;
        self.next_call_id += 1;
        net.wait(3 * MS);
        let pdus = self.pdu.request(
            call_id,
            self.ctx,
            emsmdb::OP_REGISTER_PUSH,
            &req,
            self.opts.max_frag_stub,
            &mut net.rng,
        );
        let request = send_segmented(
            net,
            &mut self.conn,
            Side::Client,
            pdus,
            &self.opts.request_segmenting,
        );
        net.wait(MS);
        let response = net.tcp_send(
            &mut self.conn,
            Side::Server,
            &self.pdu.fault(call_id, self.ctx, status),
            &Segmenting::default(),
        );
        CallFrames { request, response }
    }

    /// The historic `EcRUnregisterPushNotification` (opnum 5): handle, iRpc and
    /// hNotification in, handle and return code out (protocol.md §2.4).
    pub fn unregister(&mut self, net: &mut Net) -> CallFrames {
        let f = NdrFormat::NDR20_LE;
        let mut req = emsmdb::NdrWriter::new(f, 0);
        req.bytes(&self.handle);
        req.u32(0); // iRpc
        req.u32(0); // hNotification
        let mut resp = emsmdb::NdrWriter::new(f, 0);
        resp.bytes(&self.handle);
        resp.u32(0); // return value
        net.wait(MS);
        self.call(
            net,
            emsmdb::OP_UNREGISTER_PUSH,
            &req.into_bytes(),
            &resp.into_bytes(),
            2,
        )
    }

    /// `EcDoAsyncConnectEx` (EMSMDB opnum 14): the session's async handle, return 0.
    pub fn async_connect(&mut self, net: &mut Net) -> CallFrames {
        let f = NdrFormat::NDR20_LE;
        let mut resp = emsmdb::NdrWriter::new(f, 0);
        resp.bytes(&self.handle);
        resp.u32(0); // return value
        net.wait(MS);
        self.call(
            net,
            emsmdb::OP_DO_ASYNC_CONNECT_EX,
            &self.handle.clone(),
            &resp.into_bytes(),
            2,
        )
    }

    /// `EcDoAsyncWaitEx` (AsyncEMSMDB opnum 0) on an AsyncEMSMDB connection, completed by the
    /// server `wait_s` seconds later with NotificationPending set.
    pub fn async_wait(&mut self, net: &mut Net, wait_s: i64) -> CallFrames {
        let f = NdrFormat::NDR20_LE;
        let mut req = emsmdb::NdrWriter::new(f, 0);
        req.bytes(&self.handle);
        req.u32(0); // ulFlagsIn
        let mut resp = emsmdb::NdrWriter::new(f, 0);
        resp.u32(1); // pulFlagsOut: NotificationPending
        resp.u32(0); // return value
        self.call(net, 0, &req.into_bytes(), &resp.into_bytes(), wait_s * 1000)
    }

    /// One ROP round trip: `rop_len` bytes of ROPs in, three times as many out, each in a
    /// ROP buffer with its server object handle table. `EcDoRpcExt2` frames the buffers in an
    /// obfuscated `RPC_HEADER_EXT`; a legacy client's `EcDoRpc` obfuscates them bare.
    pub fn rop_call(&mut self, net: &mut Net, rop_len: usize) -> CallFrames {
        const OBJECT_HANDLES: [u32; 1] = [0x0000_0001];
        let f = NdrFormat::NDR20_LE;
        let rops_in = rop::encode_rop_buffer(&net.rng.bytes(rop_len), &OBJECT_HANDLES);
        let rops_out = rop::encode_rop_buffer(&net.rng.bytes(rop_len * 3), &OBJECT_HANDLES);
        let (opnum, req, resp) = if self.opts.legacy {
            (
                emsmdb::OP_DO_RPC,
                emsmdb::encode_do_rpc_request(f, &self.handle, &rops_in, 0x8000),
                emsmdb::encode_do_rpc_response(f, &self.handle, &rops_out, 0),
            )
        } else {
            (
                emsmdb::OP_DO_RPC_EXT2,
                emsmdb::encode_rpc_ext2_request(f, &self.handle, &rops_in),
                emsmdb::encode_rpc_ext2_response(f, &self.handle, &rops_out),
            )
        };
        net.wait(MS);
        self.call(net, opnum, &req, &resp, 4)
    }

    /// Closes the TCP connection.
    pub fn close(mut self, net: &mut Net) {
        net.tcp_close(&mut self.conn);
    }
}

/// The server's notification datagram: exactly `context` from a dynamic port to `callback`.
pub fn notify(
    net: &mut Net,
    server: Host,
    server_port: u16,
    callback: SocketAddr,
    client: Host,
    context: &[u8],
) -> u64 {
    let to = Host {
        ip: callback.ip(),
        ..client
    };
    net.udp(server, server_port, to, callback.port(), context)
}
