"""e2e — helpers for the end-to-end tests (tests/*_e2e_test.py), one module
per concern:

    stage        the built binaries, found in Bazel's runfiles and copied into
                 a world-readable install tree (Stage; the `stage` fixture)
    daemon       running mydevd (Daemon, its log and `mydevctl stats` counters),
                 its system user, config text for an afpacket device
    run_as       running programs as another user: `nobody` via runuser, a
                 bare uid via setpriv; signalling what runuser started
    tcpdump      waiting for tcpdump to listen; Debian's own tcpdump as the
                 reference filter
    pcap_files   reading the pcap files capture programs write (also while
                 they are still writing them)
    frames       test frames: the synthetic generator's sequence numbers,
                 tagged Ethernet/IPv4/IPv6/VLAN frames built for veth tests
    netns        a veth pair with its far end in a network namespace, frames
                 sent through it, kernel receive timestamps
    waiting      polling a predicate, reading a pipe until a line appears
    hostile      tests/hostile_client/hostile_client: one attack per run, the
                 reference reader that must lose nothing meanwhile
    proc_status  /proc of a running mydevd: fds, memory, ids, capabilities
    fault_table  the figures table fault tests print for docs/FAULTS.md
    pki          test certificates made with openssl: CAs, server certificates
                 with IP subjectAltNames, client certificates, an expired one
    grpc_stubs   Python gRPC stubs generated at test time (mydev.proto; health
                 and reflection from grpc-proto), health and reflection calls

    from e2e.pcap_files import read_pcap

    with Stage() as stage:
        with stage.daemon(rate_pps=2000) as d:
            out = stage.run_as_nobody(["tcpdump", "-i", "mydev0", "-c", "5", "-w", f], d.socket)
            packets = read_pcap(f)[1]
"""
