-- Say at install time whether TRUNCATE is covered: event triggers never see it, so only a
-- preloaded library (a ProcessUtility hook) guards it. A WARNING, as extension scripts hide NOTICEs.
DO $$
BEGIN
    IF NOT memory_guard.truncate_guarded() THEN
        RAISE WARNING 'memory_guard: TRUNCATE is not guarded in this session: the library is not preloaded'
            USING HINT = 'Add memory_guard to shared_preload_libraries, or ALTER DATABASE ... SET session_preload_libraries = ''memory_guard''. SELECT memory_guard.truncate_guarded() tells.';
    END IF;
END
$$;
