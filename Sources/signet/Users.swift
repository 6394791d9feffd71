import ArgumentParser
import Foundation
import SignetCore

struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage user accounts.",
        subcommands: [Create.self, List.self, SetPassword.self, Disable.self, Enable.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a user; the password is read from the first line of standard input.")

        @OptionGroup var options: GlobalOptions
        @Argument(help: "The username (stored normalized: NFKC + case folding).") var username: String
        @Option(name: .customLong("role"), help: "A role to grant (repeatable), e.g. --role admin.") var roles: [String] = []
        @Option(help: "The user's e-mail address.") var email: String?
        @Flag(help: "Read the password from standard input (required: passwords never go on the command line).")
        var passwordStdin = false

        func validate() throws {
            guard passwordStdin else { throw ValidationError("--password-stdin is required") }
        }

        func run() async throws {
            let input = UserAccounts.NewUser(username: username, password: try readPassword(), email: email, roles: roles)
            let user = try await SignetEnvironment.withStarted(options) { try await $0.users.create(input) }
            print("created user \(user.username) (\(user.id.uuidString.lowercased()))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users, ordered by username.")

        @OptionGroup var options: GlobalOptions
        @Option(help: "At most this many users.") var limit = 1000

        func run() async throws {
            let limit = self.limit
            let users = try await SignetEnvironment.withStarted(options) { try await $0.users.list(limit: limit) }
            print(["ID", "USERNAME", "EMAIL", "ROLES", "DISABLED"].joined(separator: "\t"))
            for user in users {
                print([user.id.uuidString.lowercased(), user.username, user.email ?? "-",
                       user.roles.isEmpty ? "-" : user.roles.joined(separator: ","), String(user.disabled)]
                    .joined(separator: "\t"))
            }
        }
    }

    struct SetPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-password",
            abstract: "Set a user's password from standard input; tokens issued before now stop working.")

        @OptionGroup var options: GlobalOptions
        @Argument(help: "The username.") var username: String
        @Flag(help: "Read the password from standard input (required).") var passwordStdin = false

        func validate() throws {
            guard passwordStdin else { throw ValidationError("--password-stdin is required") }
        }

        func run() async throws {
            let password = try readPassword(), username = self.username
            try await SignetEnvironment.withStarted(options) { try await $0.users.setPassword(username: username, password: password) }
            print("password changed for \(username)")
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Disable a user: logins fail and tokens issued before now stop working.")

        @OptionGroup var options: GlobalOptions
        @Argument(help: "The username.") var username: String

        func run() async throws {
            let username = self.username
            try await SignetEnvironment.withStarted(options) { try await $0.users.setDisabled(username: username, true) }
            print("disabled \(username)")
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Re-enable a disabled user.")

        @OptionGroup var options: GlobalOptions
        @Argument(help: "The username.") var username: String

        func run() async throws {
            let username = self.username
            try await SignetEnvironment.withStarted(options) { try await $0.users.setDisabled(username: username, false) }
            print("enabled \(username)")
        }
    }
}

/// The first line of standard input, without its line ending.
func readPassword() throws -> String {
    guard let line = Swift.readLine(strippingNewline: true) else {
        throw CommandFailure(description: "expected the password on standard input")
    }
    return line.hasSuffix("\r") ? String(line.dropLast()) : line
}
