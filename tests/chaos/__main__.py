from tests.chaos.runner import main

raise SystemExit(main())
