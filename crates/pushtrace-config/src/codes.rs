//! Names of the EMSMDB / MAPI return codes (MS-OXCDATA §2.4, protocol.md §5.1): what a
//! registration returns on the wire and what a client log prints after `EC =`. One table
//! serves this crate and the capture engine, which depends on it.

/// The name of a known EMSMDB / MAPI return code [protocol.md §5.1].
pub fn return_code_name(code: u32) -> Option<&'static str> {
    Some(match code {
        0x0000_0000 => "ecNone",
        0x8004_0102 => "ecNotSupported (MAPI_E_NO_SUPPORT)",
        0x8007_0057 => "ecInvalidParam (MAPI_E_INVALID_PARAMETER)",
        0x8004_0305 => "ecTooBig (MAPI_E_TOO_BIG)",
        0x8004_0115 => "ecRpcFailed",
        0x0000_0970 => "ecNotEncrypted",
        0x0000_04DF => "ecClientVerDisallowed",
        0x0000_04B6 => "ecRpcAuthentication",
        0x8004_0111 => "ecLoginFailure (MAPI_E_LOGON_FAILED)",
        0x0000_03EB => "ecUnknownUser",
        0x0000_03F2 => "ecLoginPerm",
        0x8004_0110 => "ecVersionMismatch (MAPI_E_VERSION)",
        0x8007_0005 => "ecAccessDenied (MAPI_E_NO_ACCESS)",
        0x0000_0480 => "ecServerBusy",
        0x0000_07EE => "ecRejected",
        0x0000_03ED => "ecExiting",
        0x0000_04E0 => "ecRpcHttpDisallowed",
        0x0000_04E1 => "ecCachedModeRequired",
        0x0000_07D8 => "ecProtocolDisabled",
        0x0000_06BB => "RPC_S_SERVER_TOO_BUSY",
        0x8000_4005 => "MAPI_E_CALL_FAILED",
        _ => return None,
    })
}
