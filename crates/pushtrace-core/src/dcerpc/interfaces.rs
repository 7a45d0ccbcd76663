//! Well-known DCE/RPC interfaces, their operation names and the fault status names, kept as
//! data (protocol.md §1.13, §2.1, §2.2, §5.2).
//!
//! Interfaces are matched on the exact UUID only: EMSMDB (`…-B31F-…`) and the Exchange store
//! admin interface (`…-B31E-…`) differ by one nibble, and the version is left to the caller
//! (Wireshark declares EMSMDB 0.82, Outlook sends 0.81).

use uuid::Uuid;

/// One interface this tool can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownInterface {
    /// Interface UUID.
    pub uuid: Uuid,
    /// Short name, e.g. `EMSMDB`.
    pub name: &'static str,
    /// What the interface is.
    pub description: &'static str,
    /// Operation names indexed by opnum (may be empty).
    pub operations: &'static [&'static str],
}

/// EMSMDB, the Exchange store (MAPI) interface [MS-OXCRPC §1.9].
pub const EMSMDB_UUID: Uuid = Uuid::from_u128(0xa4f1db00_ca47_1067_b31f_00dd010662da);
/// AsyncEMSMDB, the asynchronous notification interface [MS-OXCRPC §1.9].
pub const ASYNC_EMSMDB_UUID: Uuid = Uuid::from_u128(0x5261574a_4572_206e_b268_6b199213b4e4);
/// NSPI, the address book [MS-NSPI; OpenChange; Zeek].
pub const NSPI_UUID: Uuid = Uuid::from_u128(0xf5cc5a18_4264_101a_8c59_08002b2f8426);
/// RFR, the address book referral interface [MS-OXABREF; OpenChange; Zeek].
pub const RFR_UUID: Uuid = Uuid::from_u128(0x1544f5e0_613c_11d1_93df_00c04fd7bd09);
/// The endpoint mapper [C706 App. H; Zeek].
pub const EPM_UUID: Uuid = Uuid::from_u128(0xe1af8308_5d1f_11c9_91a4_08002b14a0fa);
/// The Exchange store admin interface: NOT EMSMDB, one nibble apart \[OpenChange\].
pub const STORE_ADMIN_UUID: Uuid = Uuid::from_u128(0xa4f1db00_ca47_1067_b31e_00dd010662da);

/// EMSMDB opnums 0–14 with their historic wire names (OpenChange, Zeek, Wireshark; protocol.md
/// §2.2). MS-OXCRPC today calls 0, 2, 3, 5, 7–9, 12, 13 "OpnumNNotUsedOnWire", but old
/// clients do send 0 and 2 (TRACE), so the historic names are the useful ones. 12 and 13 have
/// no agreed name (gromox comments call them ecDoAsyncConnect / ecDoAsyncWait).
const EMSMDB_OPERATIONS: &[&str] = &[
    "EcDoConnect",
    "EcDoDisconnect",
    "EcDoRpc",
    "EcGetMoreRpc",
    "EcRRegisterPushNotification",
    "EcRUnregisterPushNotification",
    "EcDummyRpc",
    "EcRGetDCName",
    "EcRNetGetDCName",
    "EcDoRpcExt",
    "EcDoConnectEx",
    "EcDoRpcExt2",
    "EcUnknown0xC",
    "EcUnknown0xD",
    "EcDoAsyncConnectEx",
];

/// AsyncEMSMDB has a single method [MS-OXCRPC §3.3.4].
const ASYNC_EMSMDB_OPERATIONS: &[&str] = &["EcDoAsyncWaitEx"];

/// NSPI opnums 0–20 [MS-NSPI §3.1.4; the same order in Impacket's nspi module]. 15 is
/// reserved ("not used on wire").
const NSPI_OPERATIONS: &[&str] = &[
    "NspiBind",
    "NspiUnbind",
    "NspiUpdateStat",
    "NspiQueryRows",
    "NspiSeekEntries",
    "NspiGetMatches",
    "NspiResortRestriction",
    "NspiDNToMId",
    "NspiGetPropList",
    "NspiGetProps",
    "NspiCompareMIds",
    "NspiModProps",
    "NspiGetSpecialTable",
    "NspiGetTemplateInfo",
    "NspiModLinkAtt",
    "Opnum15NotUsedOnWire",
    "NspiQueryColumns",
    "NspiGetNamesFromIDs",
    "NspiGetIDsFromNames",
    "NspiResolveNames",
    "NspiResolveNamesW",
];

/// RFR opnums [MS-OXABREF §3.1.4].
const RFR_OPERATIONS: &[&str] = &["RfrGetNewDSA", "RfrGetFQDNFromServerDN"];

/// Endpoint mapper opnums 0–7 [C706 App. O; Zeek `consts.zeek`; protocol.md §1.13].
const EPM_OPERATIONS: &[&str] = &[
    "ept_insert",
    "ept_delete",
    "ept_lookup",
    "ept_map",
    "ept_lookup_handle_free",
    "ept_inq_object",
    "ept_mgmt_delete",
    "ept_map_auth",
];

/// The interfaces this tool names (protocol.md §2.1, §1.13).
pub const KNOWN_INTERFACES: &[KnownInterface] = &[
    KnownInterface {
        uuid: EMSMDB_UUID,
        name: "EMSMDB",
        description: "Exchange store (MAPI over RPC), version 0.81",
        operations: EMSMDB_OPERATIONS,
    },
    KnownInterface {
        uuid: ASYNC_EMSMDB_UUID,
        name: "AsyncEMSMDB",
        description: "Exchange asynchronous notifications, version 0.01",
        operations: ASYNC_EMSMDB_OPERATIONS,
    },
    KnownInterface {
        uuid: NSPI_UUID,
        name: "NSPI",
        description: "Exchange address book (NSPI), version 56.0",
        operations: NSPI_OPERATIONS,
    },
    KnownInterface {
        uuid: RFR_UUID,
        name: "RFR",
        description: "Exchange address book referral, version 1.0",
        operations: RFR_OPERATIONS,
    },
    KnownInterface {
        uuid: EPM_UUID,
        name: "EPM",
        description: "DCE/RPC endpoint mapper, version 3.0",
        operations: EPM_OPERATIONS,
    },
    KnownInterface {
        uuid: STORE_ADMIN_UUID,
        name: "StoreAdmin",
        description: "Exchange store admin interface (not EMSMDB), version 1.0",
        operations: &[],
    },
];

/// DCE/RPC fault status names (protocol.md §5.2: Samba `dcerpc_nca_status`, Wireshark
/// `reject_status_vals`; C706 names where one exists, Windows names for Win32/HRESULT codes).
pub const FAULT_STATUS_NAMES: &[(u32, &str)] = &[
    (0x0000_0001, "nca_s_fault_other"),
    (0x0000_0005, "nca_s_fault_access_denied"),
    (0x0000_06ba, "rpc_s_server_unavailable"),
    (0x0000_06bd, "rpc_s_no_call_active"),
    (0x0000_06d8, "nca_s_fault_cant_perform"),
    (0x0000_06d9, "nca_s_fault_out_of_resources"),
    (0x0000_06f7, "nca_s_fault_ndr"),
    (0x0000_0721, "nca_s_fault_sec_pkg_error"),
    (0x1c00_0006, "nca_s_fault_invalid_tag"),
    (0x1c00_0007, "nca_s_fault_invalid_bound"),
    (0x1c00_000d, "nca_s_fault_cancel"),
    (0x1c00_001a, "nca_s_fault_context_mismatch"),
    (0x1c00_001b, "nca_s_fault_remote_no_memory"),
    (0x1c00_001c, "nca_s_invalid_pres_context_id"),
    (0x1c00_001d, "nca_s_unsupported_authn_level"),
    (0x1c00_001f, "nca_s_invalid_checksum"),
    (0x1c00_0020, "nca_s_invalid_crc"),
    (0x1c01_0001, "nca_s_comm_failure"),
    (0x1c01_0002, "nca_s_op_rng_error"),
    (0x1c01_0003, "nca_s_unk_if"),
    (0x1c01_0006, "nca_s_wrong_boot_time"),
    (0x1c01_0009, "nca_s_you_crashed"),
    (0x1c01_000b, "nca_s_proto_error"),
    (0x1c01_0013, "nca_s_out_args_too_big"),
    (0x1c01_0014, "nca_s_server_too_busy"),
    (0x1c01_0017, "nca_s_unsupported_type"),
    (0x8007_0057, "E_INVALIDARG"),
    (0x8007_06d1, "RPC_S_PROCNUM_OUT_OF_RANGE"),
];

/// The known interface with exactly this UUID.
pub fn interface_by_uuid(uuid: &Uuid) -> Option<&'static KnownInterface> {
    KNOWN_INTERFACES.iter().find(|known| known.uuid == *uuid)
}

/// The name of operation `opnum` of the interface with this UUID.
pub fn operation_name(uuid: &Uuid, opnum: u16) -> Option<&'static str> {
    interface_by_uuid(uuid)?
        .operations
        .get(usize::from(opnum))
        .copied()
}

/// The name of a DCE/RPC fault status.
pub fn fault_status_name(status: u32) -> Option<&'static str> {
    FAULT_STATUS_NAMES
        .iter()
        .find(|(value, _)| *value == status)
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emsmdb_and_store_admin_differ_by_one_nibble_and_are_told_apart() {
        // The on-wire abstract syntax from TRACE (protocol.md §1.4), NDR little-endian.
        let wire = [
            0x00, 0xdb, 0xf1, 0xa4, 0x47, 0xca, 0x67, 0x10, 0xb3, 0x1f, 0x00, 0xdd, 0x01, 0x06,
            0x62, 0xda,
        ];
        let uuid = Uuid::from_bytes_le(wire);
        assert_eq!(interface_by_uuid(&uuid).map(|k| k.name), Some("EMSMDB"));
        let admin = Uuid::parse_str("a4f1db00-ca47-1067-b31e-00dd010662da").unwrap();
        assert_eq!(
            interface_by_uuid(&admin).map(|k| k.name),
            Some("StoreAdmin")
        );
        assert_eq!(operation_name(&admin, 4), None);
    }

    #[test]
    fn operation_names_follow_the_tables() {
        assert_eq!(
            operation_name(&EMSMDB_UUID, 4),
            Some("EcRRegisterPushNotification")
        );
        assert_eq!(operation_name(&EMSMDB_UUID, 0), Some("EcDoConnect"));
        assert_eq!(operation_name(&EMSMDB_UUID, 11), Some("EcDoRpcExt2"));
        assert_eq!(operation_name(&EMSMDB_UUID, 14), Some("EcDoAsyncConnectEx"));
        assert_eq!(operation_name(&EMSMDB_UUID, 15), None);
        assert_eq!(
            operation_name(&ASYNC_EMSMDB_UUID, 0),
            Some("EcDoAsyncWaitEx")
        );
        assert_eq!(operation_name(&EPM_UUID, 3), Some("ept_map"));
        assert_eq!(operation_name(&NSPI_UUID, 20), Some("NspiResolveNamesW"));
        assert_eq!(operation_name(&RFR_UUID, 1), Some("RfrGetFQDNFromServerDN"));
        assert_eq!(operation_name(&Uuid::nil(), 0), None);
    }

    #[test]
    fn fault_status_names_are_unique_and_found() {
        assert_eq!(fault_status_name(0x1c01_0002), Some("nca_s_op_rng_error"));
        assert_eq!(fault_status_name(0x0000_06f7), Some("nca_s_fault_ndr"));
        assert_eq!(fault_status_name(0xdead_beef), None);
        let mut values: Vec<u32> = FAULT_STATUS_NAMES.iter().map(|(v, _)| *v).collect();
        values.sort_unstable();
        values.dedup();
        assert_eq!(values.len(), FAULT_STATUS_NAMES.len());
    }
}
