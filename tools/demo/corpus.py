#!/usr/bin/python3
"""corpus.py — a deterministic generator of short children's stories, the training text of snug's demo model.

Every story is built from a small grammar: a cast (a hero and a friend, each a person or an animal with a name,
pronouns and traits), a setting, and one of several plots (a lost thing, a thing stuck up high, sharing, a fear
overcome, a rainy day, a gift, a race, a garden, a new friend), told with varied sentence templates, dialogue and
an ending line. The same seed gives the same text, byte for byte, on every machine (Python's random.Random with an
explicit seed; no hashing of str, no dict-order dependence beyond insertion order).

    /usr/bin/python3 tools/demo/corpus.py --stories 40000 --seed 1 > corpus.txt

Stories are separated by one empty line. Only the standard library is used.
"""
import argparse
import random
import sys

# ---- the lexicon -------------------------------------------------------------------------------------------------

GIRLS = ["Lily", "Mia", "Sara", "Emma", "Lucy", "Anna", "Zoe", "Ella", "Rosa", "Nina", "Ivy", "Ruby", "Maya",
         "Hannah", "Grace", "Clara", "Daisy", "Molly", "Amy", "Kate", "Julia", "Alice", "Nora", "Sophie"]
BOYS = ["Tom", "Ben", "Max", "Sam", "Leo", "Jack", "Tim", "Finn", "Noah", "Oscar", "Jake", "Luke", "Eli", "Owen",
        "Adam", "Leo", "Hugo", "Theo", "Paul", "Peter", "Henry", "Ryan", "Danny", "Joe"]
# (kind, plural, sound) for animal characters; they are "it"-less: animals get he/she like the people in the stories.
ANIMALS = [("cat", "cats", "meow"), ("dog", "dogs", "woof"), ("bunny", "bunnies", "squeak"),
           ("bird", "birds", "tweet"), ("duck", "ducks", "quack"), ("frog", "frogs", "ribbit"),
           ("bear", "bears", "growl"), ("fox", "foxes", "yip"), ("mouse", "mice", "squeak"),
           ("owl", "owls", "hoot"), ("pig", "pigs", "oink"), ("lion", "lions", "roar"),
           ("squirrel", "squirrels", "chitter"), ("turtle", "turtles", "hum"), ("puppy", "puppies", "woof"),
           ("kitten", "kittens", "mew"), ("horse", "horses", "neigh"), ("cow", "cows", "moo")]
ANIMAL_NAMES = ["Spot", "Fluffy", "Max", "Bella", "Coco", "Pip", "Sunny", "Buddy", "Lulu", "Patch", "Whiskers",
                "Bubbles", "Rusty", "Peanut", "Ginger", "Toby", "Honey", "Biscuit", "Pebble", "Ziggy"]
PEOPLE = ["girl", "boy"]
ADJ_CHAR = ["little", "happy", "kind", "brave", "curious", "small", "friendly", "shy", "clever", "funny", "gentle",
            "playful", "busy", "cheerful", "sleepy", "silly", "smart", "quiet", "bold", "sweet"]
PLACES = [("in a small house", "house"), ("near a big forest", "forest"), ("by the sea", "beach"),
          ("on a green hill", "hill"), ("in a busy town", "town"), ("on a quiet farm", "farm"),
          ("next to a river", "river"), ("in a tall tree", "tree"), ("in a cozy den", "den"),
          ("near a pretty park", "park"), ("in a little village", "village"), ("by a blue lake", "lake")]
ACTIVITIES = ["play outside", "run in the grass", "sing songs", "draw pictures", "read books", "jump in puddles",
              "look at the stars", "build things with blocks", "dance in the sun", "play with a ball",
              "pick flowers", "climb trees", "swim in the water", "fly a kite", "ride a bike", "bake cakes",
              "help at home", "count the clouds", "play hide and seek", "watch the birds", "splash in the pond",
              "make mud pies", "dig in the sand", "paint with bright colors"]
COLORS = ["red", "blue", "green", "yellow", "pink", "purple", "orange", "white", "shiny", "golden", "big", "tiny",
          "soft", "round", "striped", "spotted"]
# (noun, is_plural) for things that can be lost, found, shared or given.
THINGS = [("ball", False), ("kite", False), ("hat", False), ("toy car", False), ("teddy bear", False),
          ("book", False), ("doll", False), ("box", False), ("balloon", False), ("shell", False),
          ("rock", False), ("cup", False), ("drum", False), ("scarf", False), ("boat", False),
          ("flower", False), ("key", False), ("ring", False), ("apple", False), ("cookie", False),
          ("crayons", True), ("marbles", True), ("shoes", True), ("blocks", True), ("mittens", True),
          ("stickers", True)]
FOODS = ["apples", "cookies", "berries", "bread", "carrots", "cake", "soup", "honey", "cheese", "pie", "grapes",
         "pancakes", "nuts", "corn", "sandwiches"]
HIGH_PLACES = ["in a tall tree", "on the roof", "on a high shelf", "on top of a big rock", "in a bush full of thorns",
               "on the other side of the fence", "at the top of the hill"]
HIDING_PLACES = ["under the bed", "behind the door", "in the garden", "under a big leaf", "in the tall grass",
                 "next to the pond", "inside an old box", "under the table", "behind a tree", "in the sand"]
FEELINGS_GOOD = ["happy", "glad", "proud", "excited", "thankful"]
FEELINGS_BAD = ["sad", "worried", "scared", "upset", "lonely"]
TIMES = ["One day", "One morning", "One sunny day", "One evening", "One afternoon", "One cold morning",
         "One windy day", "The next day", "One summer day", "One winter night"]
WEATHER = ["the sun was warm", "the sky was blue", "the wind was soft", "the air was cool", "the birds were singing",
           "the flowers were open"]
SCARY = ["the dark", "the big slide", "the deep water", "the loud thunder", "the tall ladder", "the old bridge",
         "the big dog next door", "the high swing"]
SEEDS = ["carrots", "beans", "sunflowers", "tomatoes", "peas", "roses", "pumpkins", "daisies"]
GIFTS = ["a picture", "a card", "a small cake", "a necklace of shells", "a paper crown", "a basket of berries",
         "a song", "a little poem"]
MORALS = ["sharing makes everyone happy", "it is good to help your friends", "being brave is not the same as not being scared",
          "friends make everything better", "it is good to be patient", "kind words can make a big difference",
          "it is okay to ask for help", "trying again is the best way to learn", "a gift from the heart is the best gift",
          "being careful keeps everyone safe"]


class Character:
    """One member of the cast: name, what it is, and its pronouns."""

    def __init__(self, rng, avoid=None):
        while True:
            if rng.random() < 0.5:
                self.kind = rng.choice(PEOPLE)
                self.name = rng.choice(GIRLS if self.kind == "girl" else BOYS)
                female = self.kind == "girl"
                self.animal = None
            else:
                self.animal = rng.choice(ANIMALS)
                self.kind = self.animal[0]
                self.name = rng.choice(ANIMAL_NAMES)
                female = rng.random() < 0.5
            if avoid is None or self.name != avoid.name:
                break
        self.he, self.him, self.his = ("she", "her", "her") if female else ("he", "him", "his")
        self.adj = rng.choice(ADJ_CHAR)


def a(noun):
    """The indefinite article for a noun phrase."""
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def cap(s):
    return s[0].upper() + s[1:]


def the_thing(thing):
    noun, plural = thing
    return noun, plural, ("they" if plural else "it"), ("them" if plural else "it"), ("were" if plural else "was")


# ---- story parts -------------------------------------------------------------------------------------------------

def opening(rng, hero, place):
    t = rng.randrange(5)
    if t == 0:
        return f"Once upon a time, there was {a(hero.adj)} {hero.kind} named {hero.name}. {cap(hero.he)} lived {place}."
    if t == 1:
        return f"Once upon a time, {a(hero.adj)} {hero.kind} called {hero.name} lived {place}."
    if t == 2:
        return f"{hero.name} was {a(hero.adj)} {hero.kind} who lived {place}."
    if t == 3:
        return f"There once was {a(hero.kind)} named {hero.name}. {cap(hero.he)} was very {hero.adj}."
    return f"Once upon a time, {place}, there lived {a(hero.adj)} {hero.kind}. {cap(hero.his)} name was {hero.name}."


def likes(rng, hero, friend):
    act = rng.choice(ACTIVITIES)
    t = rng.randrange(4)
    if t == 0:
        return f"{hero.name} loved to {act}."
    if t == 1:
        called = f"{friend.name} the {friend.kind}" if friend.animal else friend.name
        return f"Every day, {hero.name} liked to {act} with {hero.his} friend {called}."
    if t == 2:
        return f"{cap(hero.his)} best friend was {friend.name}, {a(friend.adj)} {friend.kind}. They liked to {act} together."
    return f"{cap(hero.he)} liked to {act}, and {hero.he} liked {hero.his} friend {friend.name} even more."


def said(rng, who, line, to=None):
    verb = rng.choice(["said", "said", "asked" if line.endswith("?") else "said", "shouted" if line.endswith("!") else "said",
                       "whispered" if not line.endswith("!") else "cried"])
    # Inside a quote that the speech verb follows, a closing full stop becomes a comma.
    quoted = line[:-1] + "," if line.endswith(".") else line
    if to is not None and rng.random() < 0.3:
        return f"\"{quoted}\" {verb} {who.name} to {to.name}."
    if rng.random() < 0.5:
        return f"\"{quoted}\" {verb} {who.name}."
    return f"{who.name} {verb}, \"{line}\""


def sound(who):
    return f"\"{cap(who.animal[2])}, {who.animal[2]}!\" said {who.name}." if who.animal else ""


def ending(rng, hero, friend, moral=None):
    parts = []
    t = rng.randrange(4)
    if t == 0:
        parts.append(f"{hero.name} and {friend.name} played together until the sun went down.")
    elif t == 1:
        parts.append(f"From that day on, {hero.name} and {friend.name} were the best of friends.")
    elif t == 2:
        parts.append(f"That night, {hero.name} went to bed with a big smile.")
    else:
        parts.append(f"They laughed and hugged, and they were very {rng.choice(FEELINGS_GOOD)}.")
    if moral and rng.random() < 0.6:
        parts.append(f"{hero.name} learned that {moral}.")
    if rng.random() < 0.2:
        parts.append("The end.")
    return " ".join(parts)


# ---- plots: each returns a list of paragraphs after the opening ----------------------------------------------------

def plot_lost(rng, hero, friend):
    thing = (rng.choice(COLORS) + " " + rng.choice(THINGS)[0], False) if rng.random() < 0.5 else rng.choice(THINGS)
    noun, plural, they, them, was = the_thing(thing)
    spot = rng.choice(HIDING_PLACES)
    p1 = (f"{rng.choice(TIMES)}, {hero.name} could not find {hero.his} {noun}. {cap(hero.he)} looked everywhere, "
          f"but {they} {was} not there. {hero.name} felt {rng.choice(FEELINGS_BAD)}.")
    p2 = " ".join(filter(None, [
        said(rng, hero, f"Where {'are' if plural else 'is'} my {noun}?", friend),
        f"{friend.name} came to help. \"Let's look together,\" said {friend.name}.",
        f"They looked in the kitchen and they looked in the yard. At last, {friend.name} looked {spot}.",
        said(rng, friend, f"I found {them}!"),
    ]))
    p3 = (f"{hero.name} was so {rng.choice(FEELINGS_GOOD)}. {cap(hero.he)} gave {friend.name} a big hug. "
          + said(rng, hero, f"Thank you, {friend.name}! You are a good friend."))
    return [p1, p2, p3, ending(rng, hero, friend, "it is good to help your friends")]


def plot_stuck(rng, hero, friend):
    noun, plural, they, them, was = the_thing(rng.choice([t for t in THINGS if t[0] in ("ball", "kite", "hat", "balloon", "scarf", "toy car", "teddy bear")]))
    high = rng.choice(HIGH_PLACES)
    p1 = (f"{rng.choice(TIMES)}, {hero.name} was playing with {hero.his} {rng.choice(COLORS)} {noun}. "
          f"Then the wind blew, and the {noun} went up, up, up! It landed {high}.")
    p2 = " ".join(filter(None, [
        f"{hero.name} tried to reach it, but {hero.he} was too small.",
        said(rng, hero, "Oh no! I can't get it!"),
        sound(hero) if rng.random() < 0.5 else "",
    ]))
    helper = rng.randrange(3)
    if helper == 0:
        p3 = (f"Just then, {friend.name} came by. {friend.name} had a long stick. {cap(friend.he)} pushed the {noun} "
              f"gently, and it fell down into {hero.name}'s arms.")
    elif helper == 1:
        p3 = (f"{hero.name} had an idea. {cap(hero.he)} asked {friend.name} to help. {friend.name} stood on a box, "
              f"and {hero.name} climbed on {friend.his} back. Together, they got the {noun} down.")
    else:
        p3 = (f"{hero.name} asked {hero.his} mom for help. Mom brought a ladder and got the {noun} down. "
              f"\"Be careful next time,\" said Mom with a smile.")
    return [p1, p2, p3, ending(rng, hero, friend, rng.choice(["it is okay to ask for help", "being careful keeps everyone safe"]))]


def plot_share(rng, hero, friend):
    food = rng.choice(FOODS)
    p1 = (f"{rng.choice(TIMES)}, {hero.name}'s mom gave {hero.him} some {food}. They looked so good! "
          f"{hero.name} wanted to eat them all by {hero.him}self.")
    p2 = (f"Then {hero.name} saw {friend.name} sitting alone. {friend.name} looked {rng.choice(FEELINGS_BAD)} "
          f"and hungry. " + said(rng, friend, "I forgot my lunch today."))
    p3 = (f"{hero.name} thought for a moment. Then {hero.he} smiled and gave half of the {food} to {friend.name}. "
          + said(rng, friend, "Thank you! You are very kind!")
          + f" They ate the {food} together, and they tasted even better.")
    return [p1, p2, p3, ending(rng, hero, friend, "sharing makes everyone happy")]


def plot_fear(rng, hero, friend):
    scary = rng.choice(SCARY)
    p1 = (f"{hero.name} was afraid of {scary}. Every time {hero.he} saw it, {hero.he} ran away and hid.")
    p2 = " ".join([
        f"{rng.choice(TIMES)}, {friend.name} said, \"Come with me, {hero.name}. I will stay with you.\"",
        said(rng, hero, "But I am scared!"),
        f"{friend.name} held {hero.his} hand. \"It is okay to be scared. We can go slowly,\" said {friend.name}.",
    ])
    p3 = (f"{hero.name} took a deep breath. Step by step, {hero.he} went closer. It was not so bad after all! "
          f"Soon {hero.name} was laughing. " + said(rng, hero, "I did it! I am not scared anymore!"))
    return [p1, p2, p3, ending(rng, hero, friend, "being brave is not the same as not being scared")]


def plot_rain(rng, hero, friend):
    plan = rng.choice(ACTIVITIES)
    p1 = (f"{rng.choice(TIMES)}, {hero.name} and {friend.name} wanted to {plan}. But then the sky turned gray, "
          f"and it started to rain.")
    p2 = " ".join([said(rng, hero, "Now we can't go outside.", friend),
                   f"{hero.name} felt {rng.choice(FEELINGS_BAD)}. {friend.name} looked out of the window and thought."])
    idea = rng.choice([
        "build a big fort with pillows and blankets", "bake cookies in the kitchen", "draw a picture of the sun",
        "tell each other stories", "put on a little show for Mom and Dad", "make paper boats for the puddles"])
    p3 = (f"\"I know!\" said {friend.name}. \"Let's {idea}!\" So they did. It was so much fun that they forgot "
          f"about the rain. When the rain stopped, they saw a rainbow in the sky.")
    return [p1, p2, p3, ending(rng, hero, friend, "friends make everything better")]


def plot_gift(rng, hero, friend):
    gift = rng.choice(GIFTS)
    p1 = (f"{rng.choice(TIMES)}, {hero.name} remembered that it was {friend.name}'s birthday. "
          f"{cap(hero.he)} wanted to give {friend.name} something special, but {hero.he} had no money.")
    p2 = (f"{hero.name} thought and thought. Then {hero.he} had an idea. {cap(hero.he)} made {gift} all by "
          f"{hero.him}self. It took a long time, but {hero.he} did not give up.")
    p3 = (f"When {friend.name} saw {gift}, {friend.he} was so {rng.choice(FEELINGS_GOOD)}. "
          + said(rng, friend, "This is the best gift ever!")
          + f" {hero.name} felt warm inside.")
    return [p1, p2, p3, ending(rng, hero, friend, "a gift from the heart is the best gift")]


def plot_race(rng, hero, friend):
    p1 = (f"{rng.choice(TIMES)}, {hero.name} and {friend.name} had a race to the {rng.choice(['big tree', 'old gate', 'red barn', 'river', 'top of the hill'])}. "
          f"\"Ready, set, go!\" they shouted.")
    p2 = (f"{hero.name} ran very fast, but then {hero.he} fell down and hurt {hero.his} knee. "
          + said(rng, hero, "Ouch! It hurts!"))
    p3 = (f"{friend.name} stopped running and came back. {cap(friend.he)} helped {hero.name} get up. "
          f"\"Winning is not important,\" said {friend.name}. \"You are my friend.\" They walked to the end together, slowly.")
    return [p1, p2, p3, ending(rng, hero, friend, "kind words can make a big difference")]


def plot_garden(rng, hero, friend):
    seed = rng.choice(SEEDS)
    p1 = (f"{rng.choice(TIMES)}, {hero.name} planted some {seed} in the garden. {cap(hero.he)} gave them water "
          f"every day. But nothing grew.")
    p2 = " ".join([said(rng, hero, "Why are my plants not growing?"),
                   f"{friend.name} said, \"Plants need time. You have to be patient.\""])
    p3 = (f"So {hero.name} waited. {cap(hero.he)} waited for many days. Then one morning, {hero.he} saw little green "
          f"leaves! Soon there were {seed} everywhere. {hero.name} was very {rng.choice(FEELINGS_GOOD)}.")
    return [p1, p2, p3, ending(rng, hero, friend, "it is good to be patient")]


def plot_new_friend(rng, hero, friend):
    p1 = (f"{rng.choice(TIMES)}, a new {friend.kind} came to the {rng.choice(PLACES)[1]}. {cap(friend.his)} name was "
          f"{friend.name}. {friend.name} did not know anyone and felt {rng.choice(FEELINGS_BAD)}.")
    p2 = " ".join([f"{hero.name} saw {friend.name} sitting alone. {cap(hero.he)} walked over and said hello.",
                   said(rng, hero, f"Do you want to {rng.choice(ACTIVITIES)} with me?", friend),
                   sound(friend) if rng.random() < 0.3 else "",
                   f"{friend.name} smiled. \"Yes, please!\""])
    p3 = f"They played all day. {friend.name} was not {rng.choice(FEELINGS_BAD)} anymore. " + rng.choice(WEATHER).capitalize() + "."
    return [p1, p2.replace("  ", " "), p3, ending(rng, hero, friend, "kind words can make a big difference")]


def plot_try_again(rng, hero, friend):
    skill = rng.choice(["ride a bike", "fly a kite", "swim", "tie " + hero.his + " shoes", "jump rope", "whistle",
                        "build a tall tower of blocks", "catch a ball"])
    p1 = (f"{hero.name} wanted to learn to {skill}. {cap(hero.he)} tried, but it did not work. {cap(hero.he)} "
          f"tried again, and it still did not work.")
    p2 = " ".join([said(rng, hero, "I can't do it! I give up!"),
                   f"{friend.name} said, \"Don't give up, {hero.name}. Try one more time.\""])
    p3 = (f"So {hero.name} tried one more time, and then one more. And then, {hero.he} did it! "
          + said(rng, hero, "Look! I can " + skill + "!"))
    return [p1, p2, p3, ending(rng, hero, friend, "trying again is the best way to learn")]


PLOTS = [plot_lost, plot_stuck, plot_share, plot_fear, plot_rain, plot_gift, plot_race, plot_garden, plot_new_friend,
         plot_try_again]


def story(rng):
    hero = Character(rng)
    friend = Character(rng, avoid=hero)
    place = rng.choice(PLACES)[0]
    first = opening(rng, hero, place) + " " + likes(rng, hero, friend)
    if rng.random() < 0.3:
        first += f" {cap(rng.choice(WEATHER))}, and {hero.name} was {rng.choice(FEELINGS_GOOD)}."
    paragraphs = [first] + rng.choice(PLOTS)(rng, hero, friend)
    return "\n".join(" ".join(p.split()) for p in paragraphs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stories", type=int, default=40000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    out = sys.stdout
    for i in range(args.stories):
        if i:
            out.write("\n\n")
        out.write(story(rng))
    out.write("\n")


if __name__ == "__main__":
    main()
