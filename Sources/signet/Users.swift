import ArgumentParser
import Foundation
import SignetCore

struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage user accounts.",
        subcommands: [Create.self, List.self, SetPassword.self, Disable.self, Enable.self, EnrolTOTP.self, ResetMFA.self])

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

extension Users {
    struct EnrolTOTP: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "enrol-totp",
            abstract: "Give a user TOTP without a browser; prints the otpauth URI, the secret and recovery codes once.",
            discussion: """
                For accounts that must use a second factor but sign in only with the password grant (an \
                operator's admin account). Anyone who sees the output can pass the second factor: hand it \
                over safely. Users with a browser set TOTP up themselves at sign-in.
                """)

        @OptionGroup var options: GlobalOptions
        @Argument(help: "The username.") var username: String

        func run() async throws {
            let username = self.username
            let (user, enrolled, label) = try await TokenServices.withStarted(options) { services in
                guard let user = try await services.environment.users.store.find(username: try Username(username)) else {
                    throw SignetError.userNotFound
                }
                return (user, try await services.secondFactor.enrolDirectly(userID: user.id, origin: .commandLine),
                        services.secondFactor.issuerLabel)
            }
            guard let (secret, codes) = enrolled else {
                throw CommandFailure(description: "\(user.username) already has TOTP; reset it first with signet users reset-mfa")
            }
            print("otpauth_uri: \(OTPAuthURI.totp(secret: secret, issuer: label, account: user.username))")
            print("secret: \(Base32.encode(secret, padding: false))")
            print("recovery_codes: \(codes.joined(separator: " "))")
            print("(shown only now; store them safely)")
        }
    }

    struct ResetMFA: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-mfa",
            abstract: "Remove a user's second factor (TOTP and recovery codes) and end their sessions.")

        @OptionGroup var options: GlobalOptions
        @Argument(help: "The username.") var username: String

        func run() async throws {
            let username = self.username
            try await TokenServices.withStarted(options) { services in
                guard let user = try await services.environment.users.store.find(username: try Username(username)),
                      try await services.secondFactor.reset(userID: user.id, origin: .commandLine)
                else { throw SignetError.userNotFound }
            }
            print("second factor reset for \(username); their sessions have ended")
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
