import Foundation
import PostgresNIO

/// The refresh rotation (see ``SessionStore/rotate(sessionID:presentedCounter:clientID:idleLifetime:graceSeconds:dpopJKT:origin:)``)
/// as a named prepared statement: each pooled connection parses it once, and PostgreSQL keeps
/// its plan, instead of parsing and planning the whole statement on every refresh.
///
/// It advances the counter from the presented value if the session and its user are live (not
/// revoked, user enabled and in the session's generation, within both lifetimes, the DPoP key
/// the family is bound to if any) and audits the rotation, in one statement. `sessions` updates
/// touch no indexed column, so they stay HOT.
struct RotationStatement: PostgresPreparedStatement {
    static let sql = """
        WITH rotated AS (
            UPDATE sessions s
            SET refresh_counter = s.refresh_counter + 1, last_refreshed_at = now(), last_used_at = now()
            FROM users u
            WHERE s.id = $1 AND s.refresh_counter = $2 AND s.client_id = $3
              AND u.id = s.user_id AND \(SessionStore.notEnded)
              AND s.expires_at > now() AND s.last_used_at > now() - make_interval(secs => $4)
              AND (s.dpop_jkt IS NULL OR s.dpop_jkt = $5)
            RETURNING \(SessionRow.columns), u.roles
        ), audit AS (
            \(AuditLog.insert)
            SELECT 'token_refreshed', user_id, $3, $1, $6, '{}'::jsonb FROM rotated
        )
        SELECT * FROM rotated
        """
    static let bindingDataTypes: [PostgresDataType] = [.uuid, .int8, .text, .float8, .text, .text]

    typealias Row = SessionGrant

    var sessionID: UUID
    var presentedCounter: Int64
    var clientID: String
    var idleSeconds: Int
    var dpopJKT: String?
    var remoteAddress: String?

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 6)
        bindings.append(sessionID)
        bindings.append(presentedCounter)
        bindings.append(clientID)
        bindings.append(Double(idleSeconds))
        bindings.append(dpopJKT)
        bindings.append(remoteAddress)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> SessionGrant {
        let cells = row.makeRandomAccess()
        return try SessionRow(cells).grant(roles: try cells["roles"].decode([String].self))
    }
}
