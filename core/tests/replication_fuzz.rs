//! The replication fuzz harness (`fuzzing::replication`) decodes a real pgoutput stream — so
//! the fuzz target reaches the decoder — and survives every cut and every flipped byte of it.

fn cstr(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(s.as_bytes());
    b.push(0);
}

fn framed_xlog(m: &[u8]) -> Vec<u8> {
    let mut w = vec![b'w'];
    w.extend_from_slice(&[0; 24]);
    w.extend_from_slice(m);
    let mut out = (w.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(&w);
    out
}

#[test]
fn the_fuzz_harness_decodes_a_real_stream_and_survives_every_cut() {
    let mut rel = vec![b'R'];
    rel.extend_from_slice(&16384u32.to_be_bytes());
    cstr(&mut rel, "public");
    cstr(&mut rel, "items");
    rel.push(b'd');
    rel.extend_from_slice(&2i16.to_be_bytes());
    for (key, name, oid) in [(1u8, "id", 23u32), (0, "name", 25)] {
        rel.push(key);
        cstr(&mut rel, name);
        rel.extend_from_slice(&oid.to_be_bytes());
        rel.extend_from_slice(&(-1i32).to_be_bytes());
    }
    let mut ins = vec![b'I'];
    ins.extend_from_slice(&16384u32.to_be_bytes());
    ins.push(b'N');
    ins.extend_from_slice(&2i16.to_be_bytes());
    ins.push(b't');
    ins.extend_from_slice(&2i32.to_be_bytes());
    ins.extend_from_slice(b"42");
    ins.push(b'n');
    let stream = [framed_xlog(&rel), framed_xlog(&ins)].concat();
    assert_eq!(pgsans::fuzzing::replication(&stream), 2);
    for cut in 0..stream.len() {
        pgsans::fuzzing::replication(&stream[..cut]);
        let mut flipped = stream.clone();
        flipped[cut] ^= 0xff;
        pgsans::fuzzing::replication(&flipped);
    }
}
