import Foundation
import Logging

/// Installs Signet's log output: `text` (swift-log's stream format) or `json`, both carrying the id
/// of the request being served. Call once per process (swift-log allows one bootstrap).
public enum SignetLogging {
    public static func bootstrap(format: String) {
        LoggingSystem.bootstrap({ label, provider in
            if format == "json" { return JSONLogHandler(label: label, metadataProvider: provider) }
            return StreamLogHandler.standardError(label: label, metadataProvider: provider)
        }, metadataProvider: RequestID.metadataProvider)
    }
}
