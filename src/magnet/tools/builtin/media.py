"""A music library: tracks, albums and artists, playlists, ratings, plays and recommendations.

Outputs carry ``track_id``, ``playlist_id``, ``artist`` and ``album`` values that other functions take as inputs
(search_tracks -> create_playlist -> add_to_playlist, get_track -> recommend_similar -> play_track).
"""

from __future__ import annotations

import copy
import random
from typing import Any, TypedDict

from magnet.tools.toolkit import Toolkit, error


class Track(TypedDict):
    """A track of the library.

    Attributes:
        track_id: Identifier of the track, e.g. 'trk-0007'.
        title: Title of the track.
        artist: Performing artist.
        album: Album the track is on.
        year: Year the album was released.
        duration_seconds: Length of the track in seconds.
        genre: Genre of the track, e.g. 'jazz'.
        rating: The listener's rating from 1 to 5, or 0 if not rated.
        play_count: How many times the track has been played.
    """

    track_id: str
    title: str
    artist: str
    album: str
    year: int
    duration_seconds: int
    genre: str
    rating: int
    play_count: int


class TrackList(TypedDict):
    """Tracks matching a query.

    Attributes:
        tracks: The matching tracks.
    """

    tracks: list[Track]


class Playlist(TypedDict):
    """A playlist.

    Attributes:
        playlist_id: Identifier of the playlist, e.g. 'pls-0002'.
        name: Name of the playlist.
        track_ids: Identifiers of the tracks, in playing order.
        total_duration_seconds: Total length of the playlist in seconds.
    """

    playlist_id: str
    name: str
    track_ids: list[str]
    total_duration_seconds: int


class Album(TypedDict):
    """An album.

    Attributes:
        album: Title of the album.
        artist: The artist.
        year: Year the album was released.
        track_ids: Identifiers of the album's tracks in the library.
    """

    album: str
    artist: str
    year: int
    track_ids: list[str]


class AlbumList(TypedDict):
    """Albums of an artist.

    Attributes:
        artist: The artist.
        albums: The albums, oldest first.
    """

    artist: str
    albums: list[Album]


class NowPlaying(TypedDict):
    """The track that started playing.

    Attributes:
        track_id: The track playing.
        title: Title of the track.
        artist: Performing artist.
        duration_seconds: Length of the track in seconds.
        play_count: How many times the track has been played, including this time.
    """

    track_id: str
    title: str
    artist: str
    duration_seconds: int
    play_count: int


CATALOGUE = [
    ("Blue Lagoon Drift", "Nadia Reyes", "Tidal Hours", 2019, 245, "jazz"),
    ("Night Tram", "Nadia Reyes", "Tidal Hours", 2019, 312, "jazz"),
    ("Paper Lanterns", "Nadia Reyes", "City Lights", 2022, 198, "jazz"),
    ("Copper Sky", "The Wandering Pines", "Trailheads", 2017, 221, "folk"),
    ("River Song", "The Wandering Pines", "Trailheads", 2017, 189, "folk"),
    ("Northern Road", "The Wandering Pines", "Ember & Ash", 2021, 256, "folk"),
    ("Neon Pulse", "Voltage Bloom", "Afterglow", 2020, 204, "electronic"),
    ("Static Hearts", "Voltage Bloom", "Afterglow", 2020, 231, "electronic"),
    ("Glass Circuit", "Kaito Mori", "Signal", 2023, 276, "electronic"),
    ("Midnight Sonata in Blue", "Elena Varga", "Nocturnes", 2015, 402, "classical"),
    ("Morning Étude", "Elena Varga", "Nocturnes", 2015, 188, "classical"),
    ("Thunder Alley", "Rust Kings", "Loud & Clear", 2018, 214, "rock"),
]


def _track(number: int, title: str, artist: str, album: str, year: int, duration: int, genre: str) -> dict:
    return {
        "track_id": f"trk-{number:04d}",
        "title": title,
        "artist": artist,
        "album": album,
        "year": year,
        "duration_seconds": duration,
        "genre": genre,
        "rating": 0,
        "play_count": 0,
    }


class MediaLibrary(Toolkit):
    """A personal music library."""

    category = "Entertainment"
    tool_class = "Music library tool"
    description = "Search tracks, browse artists and albums, manage playlists, rate, play and get recommendations."

    @classmethod
    def default_state(cls) -> dict[str, Any]:
        tracks = {t["track_id"]: t for t in (_track(n, *row) for n, row in enumerate(CATALOGUE, start=1))}
        tracks["trk-0001"].update(rating=5, play_count=14)
        tracks["trk-0004"].update(rating=4, play_count=6)
        tracks["trk-0007"]["play_count"] = 3
        return {
            "tracks": tracks,
            "playlists": {
                "pls-0001": {"playlist_id": "pls-0001", "name": "Evening jazz", "track_ids": ["trk-0001", "trk-0002"]},
                "pls-0002": {"playlist_id": "pls-0002", "name": "Workout", "track_ids": ["trk-0007", "trk-0012"]},
            },
            "next_track": len(CATALOGUE) + 1,
            "next_playlist": 3,
        }

    @classmethod
    def random_state(cls, rng: random.Random) -> dict[str, Any]:
        state = cls.default_state()
        words = ["Silver", "Echo", "Harbor", "Velvet", "Golden", "Quiet", "Wild", "Paper", "Falling", "Open"]
        nouns = ["Rain", "Garden", "Signal", "Waves", "Lights", "Fields", "Stairs", "Windows"]
        artists = [
            ("Nadia Reyes", "jazz"),
            ("Voltage Bloom", "electronic"),
            ("Lumen Choir", "classical"),
            ("Desert Echo", "rock"),
            ("The Wandering Pines", "folk"),
        ]
        for _ in range(rng.randint(3, 6)):
            artist, genre = rng.choice(artists)
            number = state["next_track"]
            state["next_track"] += 1
            track = _track(
                number,
                f"{rng.choice(words)} {rng.choice(nouns)}",
                artist,
                f"{rng.choice(words)} Sessions",
                rng.randint(2005, 2025),
                rng.randint(150, 420),
                genre,
            )
            track["play_count"] = rng.randint(0, 20)
            state["tracks"][track["track_id"]] = track
        for track in state["tracks"].values():
            if rng.random() < 0.3:
                track["rating"] = rng.randint(1, 5)
        return state

    # -- tracks --------------------------------------------------------------------------------------------------

    def search_tracks(self, query: str, genre: str | None = None) -> TrackList:
        """Find tracks whose title, artist or album contains a text (case-insensitive).

        Args:
            query: Text to look for; '' matches every track.
            genre: Only tracks of this genre, e.g. 'jazz'.
        """
        needle = query.lower().strip()
        found = [
            dict(t)
            for t in self.data["tracks"].values()
            if any(needle in t[key].lower() for key in ("title", "artist", "album"))
            and (genre is None or t["genre"] == genre.lower().strip())
        ]
        return {"tracks": sorted(found, key=lambda t: t["track_id"])}

    def get_track(self, track_id: str) -> Track:
        """Get the details of one track.

        Args:
            track_id: Identifier of the track, e.g. 'trk-0007'.
        """
        track = self.data["tracks"].get(track_id)
        if track is None:
            return error(f"no track with id {track_id!r}")
        return dict(track)

    def rate_track(self, track_id: str, rating: int) -> Track:
        """Rate a track from 1 to 5 stars.

        Args:
            track_id: Identifier of the track.
            rating: Stars, from 1 to 5.
        """
        track = self.data["tracks"].get(track_id)
        if track is None:
            return error(f"no track with id {track_id!r}")
        if not 1 <= rating <= 5:
            return error(f"rating must be from 1 to 5, got {rating}")
        track["rating"] = rating
        return dict(track)

    def play_track(self, track_id: str) -> NowPlaying:
        """Start playing a track.

        Args:
            track_id: Identifier of the track.
        """
        track = self.data["tracks"].get(track_id)
        if track is None:
            return error(f"no track with id {track_id!r}")
        track["play_count"] += 1
        return {k: track[k] for k in ("track_id", "title", "artist", "duration_seconds", "play_count")}

    def recommend_similar(self, track_id: str, limit: int = 3) -> TrackList:
        """Recommend tracks similar to a track: same artist or genre first, then close release years.

        Args:
            track_id: Identifier of the track to start from.
            limit: Largest number of tracks to recommend, from 1 to 10.
        """
        seed = self.data["tracks"].get(track_id)
        if seed is None:
            return error(f"no track with id {track_id!r}")
        if not 1 <= limit <= 10:
            return error(f"limit must be from 1 to 10, got {limit}")
        scored = []
        for track in self.data["tracks"].values():
            if track["track_id"] == track_id:
                continue
            score = 2 * (track["genre"] == seed["genre"]) + (track["artist"] == seed["artist"])
            if score:
                scored.append((-score, abs(track["year"] - seed["year"]), -track["rating"], track["track_id"]))
        return {"tracks": [dict(self.data["tracks"][row[-1]]) for row in sorted(scored)[:limit]]}

    def get_artist_albums(self, artist: str) -> AlbumList:
        """List the albums of an artist that are in the library.

        Args:
            artist: Name of the artist (case-insensitive), e.g. 'Nadia Reyes'.
        """
        albums: dict[str, dict[str, Any]] = {}
        name = ""
        for track in sorted(self.data["tracks"].values(), key=lambda t: t["track_id"]):
            if track["artist"].lower() != artist.lower().strip():
                continue
            name = track["artist"]
            album = albums.setdefault(
                track["album"], {"album": track["album"], "artist": name, "year": track["year"], "track_ids": []}
            )
            album["track_ids"].append(track["track_id"])
        if not albums:
            return error(f"no artist named {artist!r} in the library")
        return {"artist": name, "albums": sorted(albums.values(), key=lambda a: (a["year"], a["album"]))}

    # -- playlists -----------------------------------------------------------------------------------------------

    def create_playlist(self, name: str, track_ids: list[str] | None = None) -> Playlist:
        """Create a playlist, optionally with tracks.

        Args:
            name: Name of the playlist.
            track_ids: Identifiers of tracks to put on it, in playing order.
        """
        if not name.strip():
            return error("name must not be empty")
        unknown = [t for t in track_ids or [] if t not in self.data["tracks"]]
        if unknown:
            return error(f"no track with id {unknown[0]!r}")
        playlist_id = f"pls-{self.data['next_playlist']:04d}"
        self.data["next_playlist"] += 1
        self.data["playlists"][playlist_id] = {
            "playlist_id": playlist_id,
            "name": name.strip(),
            "track_ids": list(track_ids or []),
        }
        return self._playlist(playlist_id)

    def get_playlist(self, playlist_id: str) -> Playlist:
        """Get the tracks and total length of a playlist.

        Args:
            playlist_id: Identifier of the playlist, e.g. 'pls-0002'.
        """
        if playlist_id not in self.data["playlists"]:
            return error(f"no playlist with id {playlist_id!r}")
        return self._playlist(playlist_id)

    def add_to_playlist(self, playlist_id: str, track_id: str) -> Playlist:
        """Add a track at the end of a playlist.

        Args:
            playlist_id: Identifier of the playlist.
            track_id: Identifier of the track to add.
        """
        playlist = self.data["playlists"].get(playlist_id)
        if playlist is None:
            return error(f"no playlist with id {playlist_id!r}")
        if track_id not in self.data["tracks"]:
            return error(f"no track with id {track_id!r}")
        if track_id in playlist["track_ids"]:
            return error(f"track {track_id!r} is already on playlist {playlist_id!r}")
        playlist["track_ids"].append(track_id)
        return self._playlist(playlist_id)

    def remove_from_playlist(self, playlist_id: str, track_id: str) -> Playlist:
        """Remove a track from a playlist.

        Args:
            playlist_id: Identifier of the playlist.
            track_id: Identifier of the track to remove.
        """
        playlist = self.data["playlists"].get(playlist_id)
        if playlist is None:
            return error(f"no playlist with id {playlist_id!r}")
        if track_id not in playlist["track_ids"]:
            return error(f"track {track_id!r} is not on playlist {playlist_id!r}")
        playlist["track_ids"].remove(track_id)
        return self._playlist(playlist_id)

    def _playlist(self, playlist_id: str) -> dict[str, Any]:
        playlist = copy.deepcopy(self.data["playlists"][playlist_id])
        playlist["total_duration_seconds"] = sum(
            self.data["tracks"][t]["duration_seconds"] for t in playlist["track_ids"] if t in self.data["tracks"]
        )
        return playlist
