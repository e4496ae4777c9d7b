//! Decoder conformance: every backend message of every recorded session (extended query,
//! pipeline, COPY, notices, TPC … not only what the engine's operations use) is framed and
//! decoded, in one piece and byte by byte, and checked against the recording's own decoding.

mod common;

use pgsans::wire::codec::backend::{decode, frame, BackendMessage};
use serde_json::Value;

fn recorded_server_messages(t: &common::Transcript) -> Vec<&Value> {
    t.json["messages"].as_array().unwrap().iter().filter(|m| m["dir"] == "S").collect()
}

#[test]
fn every_recorded_backend_message_decodes_as_recorded() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let t = common::load(&name);
        for m in recorded_server_messages(&t) {
            if m["type"].is_null() {
                continue; // the SSL answer byte; TLS records
            }
            let bytes = common::hex(m["hex"].as_str().unwrap());
            // Byte by byte: no frame until the last byte.
            for cut in 0..bytes.len() {
                assert_eq!(frame(&bytes[..cut], 1 << 30).unwrap(), None, "{name}: {} cut at {cut}", m["name"]);
            }
            let f = frame(&bytes, 1 << 30).unwrap().expect("complete");
            assert_eq!(f.total_len, bytes.len());
            let msg = decode(f.ty, &bytes[f.body()]).unwrap_or_else(|e| panic!("{name}: {}: {e}", m["name"]));
            let recorded = m["name"].as_str().unwrap();
            assert_eq!(msg.name(), recorded, "{name}");
            check_fields(&name, &msg, &m["fields"]);
            checked += 1;
        }
    }
    assert!(checked > 2000, "only {checked} messages checked");
}

fn check_fields(file: &str, msg: &BackendMessage<'_>, fields: &Value) {
    match msg {
        BackendMessage::ParameterStatus { name, value } => {
            let want = (fields["name"].as_str().unwrap().as_bytes(), fields["value"].as_str().unwrap().as_bytes());
            assert_eq!((*name, *value), want, "{file}")
        }
        BackendMessage::CommandComplete { tag } => {
            assert_eq!(*tag, fields["tag"].as_str().unwrap().as_bytes(), "{file}")
        }
        BackendMessage::ReadyForQuery { status } => {
            assert_eq!((*status as char).to_string(), fields["status"].as_str().unwrap(), "{file}")
        }
        BackendMessage::DataRow(row) => {
            let recorded = fields["values"].as_array().unwrap();
            assert_eq!(row.len(), recorded.len(), "{file}");
            for (got, want) in row.values().zip(recorded) {
                match (got, want) {
                    (None, Value::Null) => {}
                    (Some(b), Value::String(s)) => assert_eq!(b, s.as_bytes(), "{file}"),
                    (Some(b), Value::Object(o)) => {
                        assert_eq!(b, common::hex(o["binary"].as_str().unwrap()).as_slice(), "{file}")
                    }
                    other => panic!("{file}: {other:?}"),
                }
            }
        }
        BackendMessage::RowDescription(desc) => {
            let cols = fields["columns"].as_array().unwrap();
            assert_eq!(desc.len(), cols.len());
            for (f, c) in desc.fields().zip(cols) {
                assert_eq!(f.name, c["name"].as_str().unwrap().as_bytes(), "{file}");
                assert_eq!(f.type_oid as u64, c["type_oid"].as_u64().unwrap(), "{file}");
                assert_eq!(f.format as i64, c["format"].as_i64().unwrap(), "{file}");
            }
        }
        BackendMessage::ErrorResponse(_) | BackendMessage::NoticeResponse(_) => {
            let e = msg.db_error().unwrap().unwrap();
            assert_eq!(e.code(), fields["fields"]["C"].as_str().unwrap(), "{file}");
            assert_eq!(e.message(), fields["fields"]["M"].as_str().unwrap(), "{file}");
        }
        BackendMessage::NotificationResponse { process_id, channel, payload } => {
            assert_eq!(*process_id as i64, fields["pid"].as_i64().unwrap());
            assert_eq!(
                (*channel, *payload),
                (fields["channel"].as_str().unwrap().as_bytes(), fields["payload"].as_str().unwrap().as_bytes())
            );
        }
        BackendMessage::ParameterDescription(p) => {
            let want: Vec<u64> =
                fields["param_types"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
            assert_eq!(p.types().map(u64::from).collect::<Vec<_>>(), want, "{file}");
        }
        BackendMessage::CopyInResponse(c) | BackendMessage::CopyOutResponse(c) => {
            assert_eq!(c.format as u64, fields["format"].as_u64().unwrap(), "{file}")
        }
        BackendMessage::BackendKeyData { process_id, .. } => {
            assert_eq!(*process_id as i64, fields["pid"].as_i64().unwrap())
        }
        _ => {}
    }
}
