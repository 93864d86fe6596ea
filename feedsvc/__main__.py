from feedsvc.cli.main import main

raise SystemExit(main())
