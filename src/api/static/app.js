// Progressive enhancement lives in later modules.
