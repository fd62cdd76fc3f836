// A stand-in for gpg that tests point GPGME at: it appends one line (its arguments) to the file named by
// $MDCRYPT_GPG_COUNT_FILE, then becomes /usr/bin/gpg with the same arguments. No shell. One line per
// gpg process started, so tests can count them.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
    if (const char* log = std::getenv("MDCRYPT_GPG_COUNT_FILE"); log && *log) {
        std::string line;
        for (int i = 1; i < argc; ++i) {
            if (i > 1) line += ' ';
            line += argv[i];
        }
        for (char& c : line)
            if (c == '\n' || c == '\r') c = ' ';
        line += '\n';
        const int fd = ::open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
            // One write with O_APPEND: lines from concurrent processes do not interleave.
            (void)!::write(fd, line.data(), line.size());
            ::close(fd);
        }
    }
    static char gpg_name[] = "gpg";
    argv[0] = gpg_name;
    ::execv("/usr/bin/gpg", argv);
    std::fprintf(stderr, "gpg-counting-wrapper: cannot run /usr/bin/gpg: %s\n", std::strerror(errno));
    return 127;
}
