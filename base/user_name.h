// user_name.h — a uid's name in this machine's user database, for showing
// people who owns something (mydevctl's tables, mydev-dashboard's page).
//
//   std::string n = UserNameOf(65534);   // "nobody"; "" for a uid with no entry
#ifndef MYDEV_BASE_USER_NAME_H_
#define MYDEV_BASE_USER_NAME_H_

#include <cstdint>
#include <string>

namespace mydev {

// The name getpwuid_r gives uid ("" when it has none, or on error).
std::string UserNameOf(uint32_t uid);

}  // namespace mydev

#endif  // MYDEV_BASE_USER_NAME_H_
