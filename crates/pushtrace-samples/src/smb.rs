//! SMB2 as Windows file and directory traffic carries it in the background of Outlook
//! captures: named-pipe DCE/RPC in `FSCTL_PIPE_TRANSCEIVE` ioctls [MS-SMB2 2.2.1.2 header,
//! 2.2.31 IOCTL request, 2.2.32 IOCTL response], each message behind a 4-byte NetBIOS
//! session header (SMB direct on TCP 445, RFC 1002 §4.3.6 framing).

/// SMB2 IOCTL command.
const COMMAND_IOCTL: u16 = 0x000B;
/// `FSCTL_PIPE_TRANSCEIVE`: write a message to a named pipe and read the answer.
const FSCTL_PIPE_TRANSCEIVE: u32 = 0x0011_C017;
/// SMB2 header flag: a response.
const FLAGS_SERVER_TO_REDIR: u32 = 0x0000_0001;
/// The SMB2 header's size.
const HEADER_LEN: u32 = 64;

/// One SMB2 session on one tree with one open named pipe.
#[derive(Debug, Clone)]
pub struct PipeSession {
    /// SessionId.
    session_id: u64,
    /// TreeId (IPC$).
    tree_id: u32,
    /// The pipe's FileId (persistent and volatile halves).
    file_id: [u8; 16],
    next_message_id: u64,
}

impl PipeSession {
    /// A session whose next message id is `first_message_id`.
    pub fn new(session_id: u64, tree_id: u32, file_id: [u8; 16], first_message_id: u64) -> Self {
        PipeSession {
            session_id,
            tree_id,
            file_id,
            next_message_id: first_message_id,
        }
    }

    fn header(&self, message_id: u64, response: bool, out: &mut Vec<u8>) {
        out.extend_from_slice(&[0xFE, b'S', b'M', b'B']);
        out.extend_from_slice(&(HEADER_LEN as u16).to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes()); // CreditCharge
        out.extend_from_slice(&0u32.to_le_bytes()); // Status (success)
        out.extend_from_slice(&COMMAND_IOCTL.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes()); // CreditRequest/Response
        let flags = if response { FLAGS_SERVER_TO_REDIR } else { 0 };
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes()); // NextCommand
        out.extend_from_slice(&message_id.to_le_bytes());
        out.extend_from_slice(&0xFEFFu32.to_le_bytes()); // Reserved (ProcessId)
        out.extend_from_slice(&self.tree_id.to_le_bytes());
        out.extend_from_slice(&self.session_id.to_le_bytes());
        out.extend_from_slice(&[0; 16]); // Signature
    }

    /// A transceive request carrying `rpc` (a DCE/RPC PDU) and its response carrying
    /// `answer`, each as a NetBIOS session message.
    pub fn transceive(&mut self, rpc: &[u8], answer: &[u8]) -> (Vec<u8>, Vec<u8>) {
        const REQUEST_FIXED: u32 = 56;
        const RESPONSE_FIXED: u32 = 48;
        let id = self.next_message_id;
        self.next_message_id += 1;
        let request = self.ioctl(
            (id, false),
            57,
            &[
                HEADER_LEN + REQUEST_FIXED, // InputOffset
                rpc.len() as u32,           // InputCount
                0,                          // MaxInputResponse
                0,                          // OutputOffset
                0,                          // OutputCount
                4280,                       // MaxOutputResponse
                1,                          // Flags: SMB2_0_IOCTL_IS_FSCTL
                0,                          // Reserved2
            ],
            rpc,
        );
        let response = self.ioctl(
            (id, true),
            49,
            &[
                HEADER_LEN + RESPONSE_FIXED, // InputOffset
                0,                           // InputCount
                HEADER_LEN + RESPONSE_FIXED, // OutputOffset
                answer.len() as u32,         // OutputCount
                0,                           // Flags
                0,                           // Reserved2
            ],
            answer,
        );
        (session_message(&request), session_message(&response))
    }
}

impl PipeSession {
    /// An SMB2 IOCTL request or response (message `id`, `response`) for
    /// FSCTL_PIPE_TRANSCEIVE on the pipe: the header, `structure_size`, the control code and
    /// file id, the 32-bit `fields` that follow them, then `payload`.
    fn ioctl(
        &self,
        (id, response): (u64, bool),
        structure_size: u16,
        fields: &[u32],
        payload: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        self.header(id, response, &mut out);
        out.extend_from_slice(&structure_size.to_le_bytes());
        out.extend_from_slice(&[0; 2]); // Reserved
        out.extend_from_slice(&FSCTL_PIPE_TRANSCEIVE.to_le_bytes());
        out.extend_from_slice(&self.file_id);
        for field in fields {
            out.extend_from_slice(&field.to_le_bytes());
        }
        out.extend_from_slice(payload);
        out
    }
}

/// `message` behind a NetBIOS session-message header (type 0, 24-bit length).
fn session_message(message: &[u8]) -> Vec<u8> {
    let len = (message.len() as u32).to_be_bytes();
    [&[0, len[1], len[2], len[3]][..], message].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_offsets_point_at_the_carried_pdu() {
        let mut s = PipeSession::new(0x4400_0000_0001, 5, [7; 16], 40);
        let (request, response) = s.transceive(b"rpc-request", b"rpc-answer");
        // NetBIOS length covers the SMB2 message.
        let len = u32::from_be_bytes([0, request[1], request[2], request[3]]) as usize;
        assert_eq!(len + 4, request.len());
        let smb = &request[4..];
        assert_eq!(&smb[..4], b"\xfeSMB");
        let input_offset = u32::from_le_bytes(smb[88..92].try_into().unwrap()) as usize;
        assert_eq!(&smb[input_offset..], b"rpc-request");
        let smb = &response[4..];
        let output_offset = u32::from_le_bytes(smb[96..100].try_into().unwrap()) as usize;
        assert_eq!(&smb[output_offset..], b"rpc-answer");
        // Message ids advance per exchange.
        let (next, _) = s.transceive(b"x", b"y");
        assert_eq!(
            u64::from_le_bytes(next[4 + 24..4 + 32].try_into().unwrap()),
            41
        );
    }
}
