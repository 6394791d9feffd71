import ArgumentParser
import Configuration
import Foundation
import Logging
import SignetCore
import SignetHTTP

/// A failure reported as one line on stderr with a non-zero exit status.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String

    init(description: String) {
        self.description = description
    }

    init(_ error: any Error) {
        switch error {
        case let failure as CommandFailure: self = failure
        case let error as SignetCore.ValidationError: description = "invalid \(error.field): \(error.reason)"
        case UserStoreError.usernameTaken: description = "a user with that username already exists"
        case UserStoreError.notFound: description = "no such user"
        case ClientStoreError.clientIDTaken: description = "a client with that client_id already exists"
        case PasswordHasherError.overloaded: description = "password hashing is overloaded; try again"
        case let error as MasterKeyError: description = error.description
        default:
            let text = Database.describe(error) ?? String(describing: error)
            description = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? text
        }
    }
}
