import Foundation
import Logging
import PostgresNIO

/// A parsed `postgres://user[:password]@host[:port]/database[?sslmode=…]` URL.
///
/// Its `description` never contains the password, so it is safe in logs and error messages.
public struct DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    public enum TLSMode: String, Sendable {
        case disable, prefer, require
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tlsMode: TLSMode

    public init(string: String) throws {
        guard let components = URLComponents(string: string),
              let scheme = components.scheme, ["postgres", "postgresql"].contains(scheme)
        else { throw SettingProblem("must be a postgres:// URL") }
        guard let host = components.host, !host.isEmpty else { throw SettingProblem("has no host") }
        guard let user = components.user, !user.isEmpty else { throw SettingProblem("has no user name") }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty else { throw SettingProblem("has no database name") }
        var tlsMode = TLSMode.disable
        for item in components.queryItems ?? [] {
            guard item.name == "sslmode" else { throw SettingProblem("unsupported parameter \(item.name)") }
            switch item.value {
            case "disable": tlsMode = .disable
            case "prefer", "allow": tlsMode = .prefer
            case "require", "verify-ca", "verify-full": tlsMode = .require
            default: throw SettingProblem("unsupported sslmode \(item.value ?? "")")
            }
        }
        self.host = host
        self.port = components.port ?? 5432
        self.username = user.removingPercentEncoding ?? user
        self.password = components.password.map { $0.removingPercentEncoding ?? $0 }
        self.database = database.removingPercentEncoding ?? database
        self.tlsMode = tlsMode
    }

    /// The URL with any password replaced by `***`.
    public var description: String {
        "postgres://\(username)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)"
    }

    /// A pool configuration for this database.
    public func clientConfiguration(
        poolSize: Int,
        connectTimeout: Duration,
        searchPath: String? = nil
    ) -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
        configuration.options.maximumConnections = poolSize
        configuration.options.connectTimeout = connectTimeout
        if let searchPath {
            configuration.options.additionalStartupParameters = [("search_path", searchPath)]
        }
        return configuration
    }

    /// A single-connection configuration for this database.
    public func connectionConfiguration(connectTimeout: Duration) throws -> PostgresConnection.Configuration {
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: try connectionTLS())
        configuration.options.connectTimeout = .init(connectTimeout)
        return configuration
    }

    private var tls: PostgresClient.Configuration.TLS {
        switch tlsMode {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
    }

    private func connectionTLS() throws -> PostgresConnection.Configuration.TLS {
        switch tlsMode {
        case .disable: .disable
        case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
    }
}
