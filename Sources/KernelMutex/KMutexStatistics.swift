import CKMutex

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Contention statistics per lock class, as the C library collects them.
///
/// A lock class is every mutex with the same name (``KMutex/init(options:name:fileID:line:)``).
/// Collection is off unless enabled: set `KMUTEX_STAT=1` in the environment (the table is
/// printed on standard error at exit) or `KMUTEX_STAT=path` (written to `path` and a CSV to
/// `path.csv`), or set ``isEnabled``. Only contended lock calls are counted, so the
/// uncontended fast path costs the same either way.
///
/// ```swift
/// KMutexStatistics.isEnabled = true
/// // ... run the workload ...
/// print(KMutexStatistics.report())
/// ```
public enum KMutexStatistics {
    /// Whether contended lock calls are being counted.
    public static var isEnabled: Bool {
        get { kmutex_stat_enable(-1) != 0 }
        set { _ = kmutex_stat_enable(newValue ? 1 : 0) }
    }

    /// The table in the layout of Linux's `/proc/lock_stat` (times in microseconds), most
    /// contended class first; or the same rows as CSV.
    public static func report(csv: Bool = false) -> String {
        var buffer: UnsafeMutablePointer<CChar>? = nil
        var size = 0
        guard let stream = open_memstream(&buffer, &size) else {
            return ""
        }
        if csv {
            kmutex_stat_dump_csv(stream)
        } else {
            kmutex_stat_dump(stream)
        }
        fclose(stream)
        defer { free(buffer) }
        return buffer.map { String(cString: $0) } ?? ""
    }

    /// Sets every class's counters back to zero.
    public static func reset() {
        kmutex_stat_reset()
    }
}
