// swift-mutex-peer: Swift's Synchronization.Mutex in kmutex-bench's uncontended and throughput
// loops.  kmutex-bench runs one process per trial with the same parameters as its in-process
// trials and reads one output line, a row of the same CSV (see Tests/benchmark/peer.c):
//   swift-mutex-peer uncontended --pairs N
//       -> swift-mutex,0,N,ns_per_pair
//   swift-mutex-peer throughput --threads T --cs-ns C --outside-ns O --duration-ms D
//       -> swift-mutex,T,C,0,ops,elapsed_ns,ops_per_s,cpu_ns,vcsw,ivcsw
//          (CPU time and context switches of this process over the trial, from getrusage)
// Busy work is the same multiply chain as the C side's bench_work, calibrated the same way.

import Glibc
import Synchronization

func nowNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Read on every step so the optimizer can neither fold the chain nor drop it (Swift has no
/// inline asm for the C side's empty asm barrier); a relaxed load is a plain L1 hit.
let multiplier = Atomic<UInt64>(6364136223846793005)

@inline(never)
func work(_ iters: UInt64) -> UInt64 {
    var x = iters | 1
    var i: UInt64 = 0
    while i < iters {
        x = x &* multiplier.load(ordering: .relaxed) &+ 1442695040888963407
        i &+= 1
    }
    return x
}

/// The fastest of many short runs: interference from other processes only ever slows a run,
/// and a short run is likely to fit between two preemptions on a shared machine.
func calibrateItersPerNs() -> Double {
    let iters: UInt64 = 200_000
    var best = UInt64.max
    var sink: UInt64 = 0
    for _ in 0..<30 {
        let t0 = nowNs()
        sink &+= work(iters)
        best = min(best, nowNs() - t0)
    }
    if sink == 42 { print("", terminator: "") }  // keeps the calibration runs
    return Double(iters) / Double(max(best, 1))
}

func fail(_ message: String) -> Never {
    fputs("swift-mutex-peer: \(message)\n", stderr)
    exit(2)
}

func option(_ args: [String], _ name: String) -> UInt64 {
    guard let i = args.firstIndex(of: name), i + 1 < args.count, let v = UInt64(args[i + 1]) else {
        fail("\(name) needs a non-negative integer")
    }
    return v
}

/// The state every worker shares: the mutex guards the counter that checks mutual exclusion.
final class Shared: Sendable {
    let mutex = Mutex<UInt64>(0)
    let ready = Atomic<Int>(0)
    let go = Atomic<Bool>(false)
    let stop = Atomic<Bool>(false)
    let csIters: UInt64
    let outsideIters: UInt64
    init(csIters: UInt64, outsideIters: UInt64) {
        self.csIters = csIters
        self.outsideIters = outsideIters
    }
}

final class Worker {
    let shared: Shared
    var ops: UInt64 = 0
    var sink: UInt64 = 0
    init(_ shared: Shared) { self.shared = shared }

    func run() {
        let sh = shared
        // Relaxed/acquiring-releasing as in the C side: go orders the start, stop orders
        // nothing (the join publishes ops).
        _ = sh.ready.add(1, ordering: .relaxed)
        while !sh.go.load(ordering: .acquiring) { sched_yield() }
        var ops: UInt64 = 0
        var sink: UInt64 = 0
        while !sh.stop.load(ordering: .relaxed) {
            sh.mutex.withLock { counter in
                counter &+= 1
                sink &+= work(sh.csIters)
            }
            ops &+= 1
            sink &+= work(sh.outsideIters)
        }
        self.ops = ops
        self.sink = sink
    }
}

/// CPU time (user + system, ns) and voluntary and involuntary context switches so far.
func usage() -> (UInt64, Int, Int) {
    var ru = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &ru)
    let us = (Int(ru.ru_utime.tv_sec) + Int(ru.ru_stime.tv_sec)) * 1_000_000
        + Int(ru.ru_utime.tv_usec) + Int(ru.ru_stime.tv_usec)
    return (UInt64(us) * 1000, ru.ru_nvcsw, ru.ru_nivcsw)
}

func throughput(_ args: [String]) {
    let threads = Int(option(args, "--threads"))
    let csNs = option(args, "--cs-ns")
    let outsideNs = option(args, "--outside-ns")
    let durationMs = option(args, "--duration-ms")
    guard threads >= 1 && threads <= 1024 else { fail("--threads must be 1..1024") }
    let perNs = calibrateItersPerNs()
    let shared = Shared(csIters: UInt64(Double(csNs) * perNs + 0.5),
                        outsideIters: UInt64(Double(outsideNs) * perNs + 0.5))
    let workers = (0..<threads).map { _ in Worker(shared) }
    let before = usage()  // after the calibration, before the first thread: the C side's span
    var tids: [pthread_t] = []
    for w in workers {
        var tid = pthread_t()
        let arg = Unmanaged.passRetained(w).toOpaque()
        let err = pthread_create(&tid, nil, { raw in
            let w = Unmanaged<Worker>.fromOpaque(raw!).takeRetainedValue()
            w.run()
            return nil
        }, arg)
        if err != 0 { fail("pthread_create failed: \(err)") }
        tids.append(tid)
    }
    while shared.ready.load(ordering: .relaxed) < threads { sched_yield() }
    shared.go.store(true, ordering: .releasing)
    let t0 = nowNs()
    var ts = timespec(tv_sec: Int(durationMs / 1000), tv_nsec: Int(durationMs % 1000) * 1_000_000)
    var left = timespec()
    while nanosleep(&ts, &left) != 0 && errno == EINTR { ts = left }
    shared.stop.store(true, ordering: .relaxed)
    for tid in tids { pthread_join(tid, nil) }
    let elapsed = nowNs() - t0
    let after = usage()
    let total = workers.reduce(0) { $0 &+ $1.ops }
    let counted = shared.mutex.withLock { $0 }
    if counted != total { fail("mutual exclusion broken: \(counted) increments, \(total) ops") }
    if workers.reduce(0, { $0 ^ $1.sink }) == 42 { print("", terminator: "") }
    let rate = Double(total) * 1e9 / Double(elapsed)
    print("swift-mutex,\(threads),\(csNs),0,\(total),\(elapsed),\(Int(rate)),"
          + "\(after.0 - before.0),\(after.1 - before.1),\(after.2 - before.2)")
}

let uncontendedMutex = Mutex<UInt64>(0)

func uncontended(_ args: [String]) {
    let pairs = option(args, "--pairs")
    guard pairs > 0 else { fail("--pairs must be positive") }
    func loop(_ n: UInt64) {
        var i: UInt64 = 0
        while i < n {
            uncontendedMutex.withLock { _ in }
            i &+= 1
        }
    }
    loop(pairs / 10)  // warm-up, as the C side does
    let t0 = nowNs()
    loop(pairs)
    let dt = nowNs() - t0
    let ns = Double(dt) / Double(pairs)
    print("swift-mutex,0,\(pairs),\(format3(ns))")
}

/// Three decimals without Foundation.
func format3(_ v: Double) -> String {
    let scaled = Int((v * 1000).rounded())
    let frac = scaled % 1000
    return "\(scaled / 1000)." + String(repeating: "0", count: frac < 10 ? 2 : frac < 100 ? 1 : 0) + "\(frac)"
}

@main
struct SwiftMutexPeer {
    static func main() {
        let args = CommandLine.arguments
        guard args.count >= 2 else { fail("usage: swift-mutex-peer uncontended|throughput OPTIONS") }
        switch args[1] {
        case "uncontended": uncontended(args)
        case "throughput": throughput(args)
        default: fail("unknown mode '\(args[1])'")
        }
    }
}
