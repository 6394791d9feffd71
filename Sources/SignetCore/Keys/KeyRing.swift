import Crypto
import Foundation
import JWTKit
import Logging
import ServiceLifecycle
import Synchronization

/// Keeps the node's ``KeySet`` in step with `signing_keys`: creates the first keys, rotates on
/// schedule or on request, drops retired keys once nothing they signed can be alive, and reloads
/// periodically so rotations made by other nodes arrive here too.
public final class KeyRing: Service, Sendable {
    private let store: KeyStore
    private let audit: AuditLog
    private let box: SecretBox
    private let masterKey: MasterKey
    private let settings: Settings
    private let logger: Logger
    private let metrics: SignetMetrics
    private let state = Mutex<KeySet?>(nil)
    /// The first load, shared by everyone asking before it is done (RSA keys take a while to
    /// make, and a burst of first requests must not each open a transaction for them).
    private let firstLoad = Mutex<Task<KeySet, any Error>?>(nil)
    /// Whether the master key has been checked against the database (see ``verifyMasterKey()``).
    private let masterKeyVerified = Mutex(false)

    public init(store: KeyStore, audit: AuditLog, masterKey: MasterKey, settings: Settings, logger: Logger, metrics: SignetMetrics = .none) {
        self.metrics = metrics
        self.store = store
        self.audit = audit
        self.box = SecretBox(masterKey: masterKey)
        self.masterKey = masterKey
        self.settings = settings
        self.logger = logger
        // A rotation elsewhere, or a client that signs users in with an algorithm that has no
        // keys yet (they are made at once, so the JWKS has them before any ID token exists).
        store.database.changes.subscribe { [weak self] table in
            guard table == .signingKeys || table == .clients, let self else { return }
            do {
                try await self.reload()
            } catch {
                self.logger.warning("reloading signing keys failed", metadata: ["reason": "\(Database.describe(error) ?? "\(error)")"])
            }
        }
    }

    /// The key set, loading (and if needed creating) it on first use.
    public func keySet() async throws -> KeySet {
        if let keys = state.withLock({ $0 }) { return keys }
        let load = firstLoad.withLock { running in
            if let running { return running }
            let task = Task { try await self.reload() }
            running = task
            return task
        }
        do {
            return try await load.value
        } catch {
            firstLoad.withLock { if $0 == load { $0 = nil } }
            throw error
        }
    }

    /// The loaded key set without touching the database; `nil` before the first load.
    public var loaded: KeySet? { state.withLock { $0 } }

    /// Refuses (``MasterKeyError/mismatch``) a master key other than the one the database was set
    /// up with. The first run on a database records the key's check value, after making sure the
    /// key opens the keys already there (a database from before check values existed).
    public func verifyMasterKey() async throws {
        if masterKeyVerified.withLock({ $0 }) { return }
        let candidate = masterKey.checkValue
        let existing = try await store.published()
        if let first = existing.first {
            do {
                _ = try SigningKeyMaterial.unseal(first.sealedPrivateKey, kid: first.kid, algorithm: first.algorithm, with: box)
            } catch {
                throw MasterKeyError.mismatch
            }
        }
        guard try await store.masterKeyCheck(storingIfAbsent: candidate) == candidate else { throw MasterKeyError.mismatch }
        masterKeyVerified.withLock { $0 = true }
    }

    /// Re-reads the published keys, creating the current and next key if there are none.
    @discardableResult
    public func reload() async throws -> KeySet {
        // Nothing is created or loaded with a master key the database was not set up with.
        try await verifyMasterKey()
        let algorithms = try await algorithmsInUse()
        if try await store.ensureCurrentAndNext(algorithms: algorithms, make: makeKey) {
            logger.notice("created signing keys", metadata: ["alg": "\(algorithms.map(\.rawValue).joined(separator: " "))"])
        }
        let keys = try await build(from: try await store.published())
        state.withLock { $0 = keys }
        return keys
    }

    /// Promotes the next key, retires the current one and creates a new next key.
    ///
    /// - Parameter force: rotate even if the next key was published less than one JWKS cache
    ///   lifetime ago (gateways with a cached JWKS will refetch on the unknown kid).
    public func rotate(
        force: Bool = false, expectedCurrent: String? = nil, origin: RequestOrigin = RequestOrigin(actor: "schedule")
    ) async throws -> KeyStore.RotationResult {
        let result = try await store.rotate(
            algorithms: try await algorithmsInUse(),
            expectedCurrent: expectedCurrent,
            minimumNextAge: force ? 0 : settings.keys.jwksMaxAgeSeconds,
            retiredPublishSeconds: retiredPublishSeconds,
            make: makeKey)
        if case .rotated(let current, let next) = result {
            logger.notice("rotated signing keys", metadata: ["current": "\(current)", "next": "\(next)"])
            try await audit.record(origin.event("keys_rotated", detail: ["current": current, "next": next]))
        }
        try await reload()
        return result
    }

    /// Every algorithm with its own key lifecycle: the access tokens' (first), then the ID-token
    /// algorithm of every client that signs users in (RS256 unless it registered ES256). A
    /// deployment without browser sign-in makes no RSA keys.
    func algorithmsInUse() async throws -> [SigningAlgorithm] {
        var list = [settings.keys.algorithm]
        for algorithm in try await store.idTokenAlgorithms() where !list.contains(algorithm) { list.append(algorithm) }
        return list
    }

    /// How long a retired key stays in the JWKS: the access-token lifetime (clients may only shorten it) plus leeway and
    /// one JWKS cache lifetime, so every token it signed expires before it disappears.
    var retiredPublishSeconds: Int {
        settings.lifetimes.accessTokenSeconds + 60 + settings.keys.jwksMaxAgeSeconds
    }

    /// Checks the master key (stopping the node, with the reason, on a mismatch; retrying while
    /// the database is unreachable), then keeps the keys maintained.
    public func run() async throws {
        let interval = Duration.seconds(settings.keys.reloadIntervalSeconds)
        // Until the check passes nothing else runs; a graceful shutdown ends the wait.
        let verified = try await cancelWhenGracefulShutdown { [self] in
            while !Task.isCancelled {
                do {
                    try await verifyMasterKey()
                    return true
                } catch let error as MasterKeyError {
                    logger.critical("\(error.description)")
                    throw error
                } catch {
                    logger.warning("cannot check the master key yet; retrying", metadata: ["reason": "\(Database.describe(error) ?? "\(error)")"])
                    try? await Task.sleep(for: .seconds(1))
                }
            }
            return false
        }
        guard verified else { return }
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await self.maintain()
                } catch is CancellationError {
                    return
                } catch {
                    self.logger.warning(
                        "signing key maintenance failed; retrying",
                        metadata: ["reason": "\(Database.describe(error) ?? "\(error)")"])
                }
                try await Task.sleep(for: interval)
            }
        }
    }

    /// One maintenance pass: rotate if the current key is due, then reload.
    public func maintain() async throws {
        let current = try await store.currentActivation(of: settings.keys.algorithm)
        if let current { metrics.signingKeyAge(seconds: Date().timeIntervalSince(current.activatedAt)) }
        if let (kid, activatedAt) = current,
           activatedAt.addingTimeInterval(TimeInterval(settings.keys.rotationIntervalSeconds)) <= Date()
        {
            _ = try await rotate(expectedCurrent: kid)
        } else {
            try await reload()
        }
    }

    private func makeKey(_ algorithm: SigningAlgorithm) throws -> NewSigningKey {
        let key = try SigningKeyMaterial.generate(algorithm)
        let jwk = String(decoding: try JSONEncoder().encode(key.publicJWK), as: UTF8.self)
        return NewSigningKey(kid: key.kid, algorithm: key.algorithm, sealed: try key.sealed(with: box), publicJWK: jwk)
    }

    private func build(from stored: [StoredSigningKey]) async throws -> KeySet {
        let collection = JWTKeyCollection()
        var jwks: [PublicJWK] = []
        var algorithms: [String: SigningAlgorithm] = [:]
        var currents: [SigningAlgorithm: String] = [:], next: String?
        for row in stored {
            let key = try SigningKeyMaterial.unseal(row.sealedPrivateKey, kid: row.kid, algorithm: row.algorithm, with: box)
            try await key.add(to: collection)
            jwks.append(key.publicJWK)
            algorithms[row.kid] = row.algorithm
            switch row.state {
            case .current: currents[row.algorithm] = row.kid
            case .next: if row.algorithm == settings.keys.algorithm { next = row.kid }
            case .retired: break
            }
        }
        _ = await collection.clearDefault()
        guard let current = currents[settings.keys.algorithm] else { throw KeyRingError.noCurrentKey }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = try encoder.encode(["keys": jwks])
        let etag = "\"" + Data(SHA256.hash(data: body)).prefix(16).base64URLEncodedString() + "\""
        return KeySet(
            currentKid: current, currentAlgorithm: settings.keys.algorithm, nextKid: next, currentKids: currents, algorithms: algorithms,
            collection: collection, jwks: body, etag: etag)
    }
}

public enum KeyRingError: Error {
    case noCurrentKey
}
