module github.com/algd/algd

go 1.26.8

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/fclairamb/ftpserverlib v0.30.0
	github.com/jlaffaye/ftp v0.2.4
	github.com/spf13/afero v1.15.0
	golang.org/x/sys v0.48.0
)

require golang.org/x/text v0.42.0 // indirect
