import Foundation

/// Checks the `DPoP` header of a request (RFC 9449 §4.3): a valid proof for this method and URL,
/// whose `jti` this key has not used before on any node. Failures are `invalid_dpop_proof`.
public struct DPoPVerifier: Sendable {
    let replays: DPoPReplayStore

    public init(database: Database) {
        replays = DPoPReplayStore(database: database)
    }

    /// The proof among `headers` (the values of every `DPoP` header), or nil when there is none.
    public func check(
        _ headers: [String], method: String, url: String, accessToken: String? = nil, now: Date = Date()
    ) async throws -> DPoPProof? {
        guard let text = headers.first else { return nil }
        guard headers.count == 1 else { throw DPoPProof.refuse("must be a single DPoP header") }
        let proof = try DPoPProof(verifying: text, method: method, url: url, accessToken: accessToken, now: now)
        guard try await replays.firstUse(of: proof) else { throw DPoPProof.refuse("was used before (jti replayed)") }
        return proof
    }
}
