# debian/rules turns contrib/systemd/pgrotate-due.service into the unit the
# package installs with this script: the binary in /usr/bin, the state
# folder as the only writable path, and CAP_CHOWN as the one capability
# (pgrotate(1), DEBIAN PACKAGE, says why). debian/rules checks the result.
/^# Install: copy both units/,/^# and give it the admin passwords/c\
# Installed by the Debian package pgrotate, neither enabled nor started.\
# Fill in /etc/pgrotate/pgrotate.conf, put the admin passwords in\
# /var/lib/pgrotate/.pgpass (0600, owner pgrotate), add the folder of every\
# file sink with "systemctl edit pgrotate-due.service" ([Service]\
# ReadWritePaths=/etc/app), then "systemctl enable --now pgrotate-due.timer".
s|^ExecStart=/usr/local/bin/pgrotate |ExecStart=/usr/bin/pgrotate |
/^# The file system is read-only but for the state_dir/,/^# renames it, so the whole folder must be writable/c\
# The file system is read-only but for the state_dir. Add the folder of\
# each file sink in a drop-in (systemctl edit pgrotate-due.service):\
#   [Service]\
#   ReadWritePaths=/etc/app\
# (a file sink writes a temporary file next to its target and renames it,\
# so the whole folder must be writable, by the user pgrotate).
s|^ReadWritePaths=.*|ReadWritePaths=/var/lib/pgrotate|
/^# No capability is needed when the service user owns/,/^#   AmbientCapabilities=CAP_CHOWN/c\
# CAP_CHOWN only, so that a file sink can give its file the "owner" and\
# "group" of the application. It works only where the unit may write\
# (ProtectSystem=strict: the state folder and the ReadWritePaths you add);\
# elsewhere chown fails on the read-only mount. Command sinks inherit it.\
# When no sink sets "owner" (a "group" the user pgrotate is a member of\
# needs no capability), empty both in a drop-in:\
#   CapabilityBoundingSet=\
#   AmbientCapabilities=
s|^CapabilityBoundingSet=$|CapabilityBoundingSet=CAP_CHOWN|
s|^AmbientCapabilities=$|AmbientCapabilities=CAP_CHOWN|
