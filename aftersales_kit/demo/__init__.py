"""Demo data: the simulator of a realistic estate and the writers of the files JD really gives
merchants (京麦 xlsx, FBP csv).
"""
