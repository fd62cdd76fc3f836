# The crypto library: the core's key lookup and Encryptor on GPGME, an Encryptor on librnp, and the
# ldap key source on libldap.
add_library(mdcrypt_crypto STATIC
  ${CMAKE_CURRENT_LIST_DIR}/encryption_key_names.cpp
  ${CMAKE_CURRENT_LIST_DIR}/encryptor_choice.cpp
  ${CMAKE_CURRENT_LIST_DIR}/explain.cpp
  ${CMAKE_CURRENT_LIST_DIR}/file_stamp.cpp
  ${CMAKE_CURRENT_LIST_DIR}/gpg_engine.cpp
  ${CMAKE_CURRENT_LIST_DIR}/gpg_locale.cpp
  ${CMAKE_CURRENT_LIST_DIR}/gpg_multifile.cpp
  ${CMAKE_CURRENT_LIST_DIR}/gpg_operation.cpp
  ${CMAKE_CURRENT_LIST_DIR}/gpgme_encryptor.cpp
  ${CMAKE_CURRENT_LIST_DIR}/gpgme_handles.cpp
  ${CMAKE_CURRENT_LIST_DIR}/key_file_cache.cpp
  ${CMAKE_CURRENT_LIST_DIR}/key_index.cpp
  ${CMAKE_CURRENT_LIST_DIR}/key_sources.cpp
  ${CMAKE_CURRENT_LIST_DIR}/ldap_directory.cpp
  ${CMAKE_CURRENT_LIST_DIR}/ldap_key_source.cpp
  ${CMAKE_CURRENT_LIST_DIR}/pipe_holders.cpp
  ${CMAKE_CURRENT_LIST_DIR}/rnp_encryptor.cpp
  ${CMAKE_CURRENT_LIST_DIR}/rnp_handles.cpp
  ${CMAKE_CURRENT_LIST_DIR}/rnp_key_listing.cpp
)
target_include_directories(mdcrypt_crypto PUBLIC ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(mdcrypt_crypto PUBLIC mdcrypt_core PkgConfig::GPGME PkgConfig::LDAP PkgConfig::RNP)
