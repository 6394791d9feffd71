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
        case let error as SignetError:
            description = error.field.map { "invalid \($0): \(error.message)" } ?? error.description
        case let error as MasterKeyError: description = error.description
        default:
            let text = Database.describe(error) ?? String(describing: error)
            description = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? text
        }
    }
}
