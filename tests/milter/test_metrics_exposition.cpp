// The Prometheus text the endpoint serves: names, labels, cumulative buckets ending in +Inf, and the
// live gauges.
#include "milter/metrics_exposition.hpp"

#include <catch2/catch.hpp>

using namespace mdcrypt;
using namespace mdcrypt::milter;
using Catch::Contains;

TEST_CASE("a snapshot is shown with every label combination, cumulative buckets and the gauges") {
    Metrics m;
    m.message(MessageOutcome::PassedAlreadyEncrypted, 7, 0);
    m.recipient_admitted(RecipientClass::Encrypt, Admission::Verdict::Separate);
    m.encryption_time(0.02);
    m.encryption_time(0.3);
    const std::string text = metrics_text(m.snapshot(), LiveGauges{2, 5, 1, 4});
    CHECK_THAT(text, Contains("# TYPE mdcrypt_messages_total counter"));
    CHECK_THAT(text, Contains("mdcrypt_messages_total{outcome=\"passed_already_encrypted\"} 1\n"));
    CHECK_THAT(text, Contains("mdcrypt_messages_total{outcome=\"rejected\"} 0\n"));
    CHECK_THAT(text, Contains("mdcrypt_recipients_total{admission=\"separate\",class=\"encrypt\"} 1\n"));
    CHECK_THAT(text, Contains("mdcrypt_message_bytes_received_total 7\n"));
    CHECK_THAT(text, Contains("mdcrypt_encryption_duration_seconds_bucket{le=\"0.01\"} 0\n"));
    CHECK_THAT(text, Contains("mdcrypt_encryption_duration_seconds_bucket{le=\"0.025\"} 1\n"));
    CHECK_THAT(text, Contains("mdcrypt_encryption_duration_seconds_bucket{le=\"0.5\"} 2\n"));
    CHECK_THAT(text, Contains("mdcrypt_encryption_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
    CHECK_THAT(text, Contains("mdcrypt_encryption_duration_seconds_count 2\n"));
    CHECK_THAT(text, Contains("mdcrypt_messages_in_progress 2\n"));
    CHECK_THAT(text, Contains("mdcrypt_connections 5\n"));
    CHECK_THAT(text, Contains("mdcrypt_encryptions_running 1\n"));
    CHECK_THAT(text, Contains("mdcrypt_encryption_slots 4\n"));
    CHECK_THAT(text, Contains("mdcrypt_gpg_failures_total{kind=\"timeout\",run=\"list_key_file\"} 0\n"));
}
